/*
 * holdopen FILE SECONDS: keeps FILE open for reading, sharing reads only,
 * as Excel does with a CSV it shows. For tools/windows-smoke.sh: on Windows
 * (and wine) nobody can then replace or delete FILE, which is how
 * `batchscore run --force` fails while a user has the output open.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: holdopen FILE SECONDS\n");
        return 2;
    }
    HANDLE h = CreateFileA(argv[1], GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "holdopen: cannot open %s: error %lu\n", argv[1], GetLastError());
        return 1;
    }
    /* The smoke script waits for this line before it goes on. */
    printf("holding\n");
    fflush(stdout);
    Sleep((DWORD)atoi(argv[2]) * 1000);
    CloseHandle(h);
    return 0;
}
