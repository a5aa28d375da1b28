/* mscms.dll for the Windows lane: Wine 8's own aborts the process when Qt's Windows
 * platform plugin (qwindows.dll, PySide6) asks for the screen's color profile
 * (WcsCreateIccProfile is an unimplemented stub there). These are the four functions Qt
 * imports; each answers "no color profile", which Qt handles by using sRGB. Only
 * .ci/windows-lane puts this in its Wine prefix (with WINEDLLOVERRIDES mscms=n): it never
 * ships, and real Windows has the real DLL.
 */
#include <windows.h>

typedef HANDLE HPROFILE;

__declspec(dllexport) HPROFILE WINAPI OpenColorProfileW(void *profile, DWORD access,
                                                        DWORD share, DWORD creation) {
    (void)profile; (void)access; (void)share; (void)creation;
    SetLastError(ERROR_NOT_SUPPORTED);
    return NULL;
}

__declspec(dllexport) HPROFILE WINAPI WcsCreateIccProfile(HPROFILE profile, DWORD options) {
    (void)profile; (void)options;
    SetLastError(ERROR_NOT_SUPPORTED);
    return NULL;
}

__declspec(dllexport) BOOL WINAPI GetColorProfileFromHandle(HPROFILE profile, BYTE *buffer,
                                                            DWORD *size) {
    (void)profile; (void)buffer; (void)size;
    SetLastError(ERROR_NOT_SUPPORTED);
    return FALSE;
}

__declspec(dllexport) BOOL WINAPI CloseColorProfile(HPROFILE profile) {
    (void)profile;
    return TRUE;
}
