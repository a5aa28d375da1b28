/* A windowed program for the platform tests on Windows (tests/apps.py).
 *
 * On POSIX the tests' "app" is a copy of Python or bash that handles SIGTERM; a Windows
 * program is asked to close with WM_CLOSE to its top-level windows, so this one has a
 * window. .ci/windows-lane builds it with Debian's mingw-w64, with the version resource
 * of app.rc (file version 4.2.0.17), and the tests copy it into an install folder as
 * TPV.exe.
 *
 *     app.exe [normal|ignore-term]
 *
 * It prints "ready" once its window exists, then runs its message loop: WM_CLOSE closes
 * it (exit code 0) unless the mode is "ignore-term", as a program with unsaved work would
 * refuse; after 60 s it ends by itself (exit code 1), as the POSIX app sleeps 60 s.
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

static int ignore_close;
static int timed_out;

static LRESULT CALLBACK window_proc(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam) {
    switch (msg) {
    case WM_CLOSE:
        if (!ignore_close) DestroyWindow(hwnd);
        return 0;
    case WM_TIMER:
        timed_out = 1;
        DestroyWindow(hwnd);
        return 0;
    case WM_DESTROY:
        PostQuitMessage(0);
        return 0;
    }
    return DefWindowProcW(hwnd, msg, wparam, lparam);
}

int wmain(int argc, wchar_t **argv) {
    ignore_close = argc > 1 && wcscmp(argv[1], L"ignore-term") == 0;
    WNDCLASSW wc = {0};
    wc.lpfnWndProc = window_proc;
    wc.hInstance = GetModuleHandleW(NULL);
    wc.lpszClassName = L"InnovaTestApp";
    if (!RegisterClassW(&wc)) return 2;
    HWND hwnd = CreateWindowExW(0, wc.lpszClassName, L"TPV", WS_OVERLAPPEDWINDOW, 0, 0, 240,
                                120, NULL, NULL, wc.hInstance, NULL);
    if (!hwnd) return 3;
    SetTimer(hwnd, 1, 60000, NULL);
    printf("ready\n");
    fflush(stdout);
    MSG msg;
    while (GetMessageW(&msg, NULL, 0, 0) > 0) {
        TranslateMessage(&msg);
        DispatchMessageW(&msg);
    }
    return timed_out ? 1 : 0;
}
