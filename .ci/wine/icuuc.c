/* icuuc.dll for the Windows lane: Wine 8 lacks Windows' system ICU, which Qt6Core.dll of
 * PySide6 >= 6.10 imports (only the ucnv_* converters, for legacy text codecs by name:
 * QStringConverter's UTF codecs are Qt's own). Every converter here fails to open, as if
 * ICU knew no codec; nothing else is offered. Only .ci/windows-lane puts this in its
 * Wine prefix: it never ships, and real Windows (10 1903 and later) has the real DLL.
 */
#include <stddef.h>
#include <stdint.h>

typedef int32_t UErrorCode;
typedef struct UConverter UConverter;
typedef void (*Callback)(void);

#define U_FILE_ACCESS_ERROR 4
#define FAIL(err) do { if ((err) && *(err) <= 0) *(err) = U_FILE_ACCESS_ERROR; } while (0)
#define API __declspec(dllexport)

API UConverter *ucnv_open(const char *name, UErrorCode *err) { (void)name; FAIL(err); return NULL; }
API void ucnv_close(UConverter *cnv) { (void)cnv; }
API void ucnv_reset(UConverter *cnv) { (void)cnv; }
API int8_t ucnv_getMaxCharSize(const UConverter *cnv) { (void)cnv; return 1; }
API const char *ucnv_getName(const UConverter *cnv, UErrorCode *err) { (void)cnv; FAIL(err); return ""; }
API void ucnv_getToUCallBack(const UConverter *cnv, Callback *action, const void **context) {
    (void)cnv; if (action) *action = NULL; if (context) *context = NULL;
}
API void ucnv_getFromUCallBack(const UConverter *cnv, Callback *action, const void **context) {
    (void)cnv; if (action) *action = NULL; if (context) *context = NULL;
}
API void ucnv_setToUCallBack(UConverter *cnv, Callback action, const void *context,
                             Callback *old, const void **old_context, UErrorCode *err) {
    (void)cnv; (void)action; (void)context; (void)old; (void)old_context; FAIL(err);
}
API void ucnv_setFromUCallBack(UConverter *cnv, Callback action, const void *context,
                               Callback *old, const void **old_context, UErrorCode *err) {
    (void)cnv; (void)action; (void)context; (void)old; (void)old_context; FAIL(err);
}
API void UCNV_FROM_U_CALLBACK_SUBSTITUTE(void) {}
API void UCNV_TO_U_CALLBACK_SUBSTITUTE(void) {}
API void ucnv_cbToUWriteUChars(void *args, const uint16_t *source, int32_t length,
                               int32_t offset, UErrorCode *err) {
    (void)args; (void)source; (void)length; (void)offset; FAIL(err);
}
API void ucnv_cbFromUWriteUChars(void *args, const uint16_t **source, const uint16_t *limit,
                                 int32_t offset, UErrorCode *err) {
    (void)args; (void)source; (void)limit; (void)offset; FAIL(err);
}
API void ucnv_toUnicode(UConverter *cnv, uint16_t **target, const uint16_t *target_limit,
                        const char **source, const char *source_limit, int32_t *offsets,
                        int8_t flush, UErrorCode *err) {
    (void)cnv; (void)target; (void)target_limit; (void)source; (void)source_limit;
    (void)offsets; (void)flush; FAIL(err);
}
API void ucnv_fromUnicode(UConverter *cnv, char **target, const char *target_limit,
                          const uint16_t **source, const uint16_t *source_limit,
                          int32_t *offsets, int8_t flush, UErrorCode *err) {
    (void)cnv; (void)target; (void)target_limit; (void)source; (void)source_limit;
    (void)offsets; (void)flush; FAIL(err);
}
API int32_t ucnv_toUCountPending(const UConverter *cnv, UErrorCode *err) { (void)cnv; FAIL(err); return 0; }
API int32_t ucnv_fromUCountPending(const UConverter *cnv, UErrorCode *err) { (void)cnv; FAIL(err); return 0; }
API const char *ucnv_getStandardName(const char *name, const char *standard, UErrorCode *err) {
    (void)name; (void)standard; FAIL(err); return NULL;
}
API const char *ucnv_getAvailableName(int32_t n) { (void)n; return NULL; }
API int32_t ucnv_countAvailable(void) { return 0; }
