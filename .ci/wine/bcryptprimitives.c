/* bcryptprimitives.dll for Wine 8, which lacks it.
 *
 * Rust's standard library (1.78 and newer) draws random bytes from ProcessPrng in this
 * DLL, so every Rust-built wheel (cryptography, rpds-py) fails to import under Wine 8
 * without it. Windows 10 and 11 have the real DLL; this one exists only for the Windows
 * test lane (.ci/windows-lane) and forwards to RtlGenRandom (advapi32's SystemFunction036).
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
