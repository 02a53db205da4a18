/*
 * Teaches wine 8's msvcrt signal() the SIG_GET action, for
 * tools/windows-smoke.sh only; linked into the same test-only
 * bcryptprimitives.dll as processprng.c, because that DLL is the one thing
 * the harness can put into the process.
 *
 * signal-hook (batchscore's Ctrl+C handling) asks the CRT for the current
 * handler with signal(sig, SIG_GET), SIG_GET being (handler)2. Microsoft's
 * CRT returns the handler and changes nothing; wine 8's msvcrt installs 2 as
 * the handler, so the first Ctrl+C jumps to address 2 and the process
 * crashes. Real Windows needs none of this. The fix replaces the exe's
 * import of msvcrt's signal() with a wrapper; the loader has filled the
 * import table before it runs DLL entry points, so DllMain is early enough
 * (signal-hook registers from main).
 */
#include <windows.h>
#include <signal.h>
#include <string.h>

typedef void (__cdecl *handler_t)(int);
typedef handler_t (__cdecl *signal_t)(int, handler_t);

static signal_t crt_signal;

static handler_t __cdecl signal_with_get(int sig, handler_t action)
{
    if (action == (handler_t)2) {
        /* Not atomic, unlike Microsoft's; nothing else sets handlers at startup. */
        handler_t current = crt_signal(sig, SIG_DFL);
        if (current != SIG_ERR)
            crt_signal(sig, current);
        return current;
    }
    return crt_signal(sig, action);
}

static void patch_exe_imports(void)
{
    HMODULE msvcrt = GetModuleHandleA("msvcrt.dll");
    if (!msvcrt)
        return;
    crt_signal = (signal_t)(void *)GetProcAddress(msvcrt, "signal");
    if (!crt_signal)
        return;

    BYTE *base = (BYTE *)GetModuleHandleA(NULL);
    IMAGE_NT_HEADERS *nt = (IMAGE_NT_HEADERS *)(base + ((IMAGE_DOS_HEADER *)base)->e_lfanew);
    IMAGE_DATA_DIRECTORY dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
    if (!dir.VirtualAddress)
        return;
    for (IMAGE_IMPORT_DESCRIPTOR *d = (IMAGE_IMPORT_DESCRIPTOR *)(base + dir.VirtualAddress); d->Name; d++) {
        if (_stricmp((const char *)(base + d->Name), "msvcrt.dll") != 0)
            continue;
        for (IMAGE_THUNK_DATA *t = (IMAGE_THUNK_DATA *)(base + d->FirstThunk); t->u1.Function; t++) {
            if ((signal_t)(ULONG_PTR)t->u1.Function != crt_signal)
                continue;
            DWORD old;
            if (VirtualProtect(&t->u1.Function, sizeof t->u1.Function, PAGE_READWRITE, &old)) {
                t->u1.Function = (ULONG_PTR)signal_with_get;
                VirtualProtect(&t->u1.Function, sizeof t->u1.Function, old, &old);
            }
        }
    }
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        patch_exe_imports();
    return TRUE;
}
