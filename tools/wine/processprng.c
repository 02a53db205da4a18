/*
 * bcryptprimitives.dll for wine 8, for tools/windows-smoke.sh only.
 *
 * Rust's standard library (1.78 and later) takes its randomness from
 * ProcessPrng in bcryptprimitives.dll, which Windows 10 and later ship and
 * wine 8 does not: without this DLL beside the .exe, the binary cannot start
 * under wine. RtlGenRandom (advapi32's SystemFunction036) is what Rust used
 * before, and wine has it. Never ship this with batchscore: real Windows
 * has the real DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a 32-bit length. */
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    /* Windows documents ProcessPrng as always returning TRUE. */
    return TRUE;
}
