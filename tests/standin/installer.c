/* A silent installer stand-in for the tests on Windows (tests/shopkit.py).
 *
 * The tests on POSIX use a shell script as "setup.exe"; Windows runs only real programs,
 * so .ci/windows-lane builds this one with Debian's mingw-w64. A test appends what the
 * installer must do to a copy of it (Windows ignores data after a program's image):
 *
 *     \nINNOVA-STANDIN\n<install folder>\n<version>\n<exit code>\n[rewrite\n]   (UTF-8)
 *
 * Run with /S, it does what the shell stand-in of tests/shopkit.py does: writes <version>
 * into VERSION, patches lib\part0.bin, deletes lib\part1.bin, adds lib\added.bin, and
 * exits with <exit code>. With "rewrite" it does what the crash test's installer does
 * (tests/crash_driver.py): rewrites every file of the install folder, one by one, with
 * "installed by <version>", then writes VERSION. Without /S it exits with 87
 * (ERROR_INVALID_PARAMETER), as a real silent installer refuses to show its wizard to
 * nobody.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static const char MARK[] = "\nINNOVA-STANDIN\n";

static int write_text(const wchar_t *folder, const wchar_t *name, const char *text) {
    wchar_t path[32768];
    _snwprintf(path, 32768, L"%ls\\%ls", folder, name);
    FILE *out = _wfopen(path, L"wb");
    if (!out) return 0;
    fputs(text, out);
    return fclose(out) == 0;
}

/* Rewrites every file under `folder`, depth first, with `text`; 0 on any failure. */
static int rewrite_tree(const wchar_t *folder, const char *text) {
    wchar_t pattern[32768];
    _snwprintf(pattern, 32768, L"%ls\\*", folder);
    WIN32_FIND_DATAW found;
    HANDLE search = FindFirstFileW(pattern, &found);
    if (search == INVALID_HANDLE_VALUE) return 0;
    int ok = 1;
    do {
        if (wcscmp(found.cFileName, L".") == 0 || wcscmp(found.cFileName, L"..") == 0) continue;
        if (found.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
            wchar_t sub[32768];
            _snwprintf(sub, 32768, L"%ls\\%ls", folder, found.cFileName);
            ok = ok && rewrite_tree(sub, text);
        } else {
            ok = ok && write_text(folder, found.cFileName, text);
        }
    } while (ok && FindNextFileW(search, &found));
    FindClose(search);
    return ok;
}

int wmain(int argc, wchar_t **argv) {
    if (argc < 2 || wcscmp(argv[1], L"/S") != 0) return 87;

    wchar_t self[32768];
    if (!GetModuleFileNameW(NULL, self, 32768)) return 90;
    FILE *in = _wfopen(self, L"rb");
    if (!in) return 91;
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    long tail = size < 65536 ? size : 65536;
    static char buffer[65537];
    fseek(in, size - tail, SEEK_SET);
    size_t got = fread(buffer, 1, (size_t)tail, in);
    fclose(in);
    buffer[got] = '\0';

    /* The last mark: the image before it may hold anything, NUL bytes included. */
    char *payload = NULL;
    size_t mark = sizeof(MARK) - 1;
    for (size_t i = got >= mark ? got - mark + 1 : 0; i-- > 0;) {
        if (memcmp(buffer + i, MARK, mark) == 0) {
            payload = buffer + i + mark;
            break;
        }
    }
    if (!payload) return 92;
    char *target = payload;
    char *version = strchr(target, '\n');
    if (!version) return 93;
    *version++ = '\0';
    char *code = strchr(version, '\n');
    if (!code) return 94;
    *code++ = '\0';
    char *mode = strchr(code, '\n');
    if (mode) *mode++ = '\0';

    wchar_t folder[32768], lib[32768];
    if (!MultiByteToWideChar(CP_UTF8, 0, target, -1, folder, 32768)) return 95;
    _snwprintf(lib, 32768, L"%ls\\lib", folder);

    char line[512];
    _snprintf(line, sizeof(line), "%s\n", version);
    if (mode && strncmp(mode, "rewrite\n", 8) == 0) {
        char text[512];
        _snprintf(text, sizeof(text), "installed by %s", version);
        if (!rewrite_tree(folder, text)) return 99;
        return write_text(folder, L"VERSION", line) ? atoi(code) : 96;
    }
    if (!write_text(folder, L"VERSION", line)) return 96;
    if (!write_text(lib, L"part0.bin", "patched")) return 97;
    wchar_t removed[32768];
    _snwprintf(removed, 32768, L"%ls\\part1.bin", lib);
    DeleteFileW(removed);
    if (!write_text(lib, L"added.bin", "added")) return 98;
    return atoi(code);
}
