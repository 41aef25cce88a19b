/*
 * The page template language, and HTML escaping.
 *
 *   {{name}}                the value, HTML-escaped (& < > " ')
 *   {{{name}}}              the value as is: only for names the caller
 *                           marks raw-capable (HTML it builds itself)
 *   {{#name}}...{{/name}}   the inside when the value is not empty
 *   {{^name}}...{{/name}}   the inside when the value is empty
 *
 * Names are exact and case-sensitive, with no spaces inside the braces.
 * Sections nest up to TWOFA_TPL_DEPTH deep.  Everything else is text,
 * copied as is.  A template is compiled once (at configuration time) and
 * rendered many times; rendering cannot fail.
 */

#ifndef TWOFA_TPL_H
#define TWOFA_TPL_H

#include <stddef.h>
#include <stdint.h>


#define TWOFA_TPL_DEPTH  8


typedef struct twofa_tpl_s  twofa_tpl_t;

/* A value to render; data may be NULL when len is 0. */
typedef struct {
    const char  *data;
    size_t       len;
} twofa_tpl_value_t;


/*
 * Compiles len bytes of src against the caller's variable names (NUL
 * terminated; names[i] is vars[i] when rendering).  Bit i of raw_allowed
 * lets names[i] appear as {{{names[i]}}}, so only the first 64 names can
 * be raw-capable.  The template keeps a copy of src: src may go away
 * after the call; names are not kept.
 *
 * Returns NULL on error, with a message in err (NUL terminated, cut to
 * err_size; err may be NULL).  The messages name the culprit and not the
 * template, so the caller prefixes its file name:
 *   "{{" is not closed
 *   unknown placeholder "x"
 *   "{{{x}}}" would not be escaped; use "{{x}}"
 *   sections nest too deep
 *   "{{/x}}" closes no open section
 *   section "x" is not closed
 *   out of memory
 */
twofa_tpl_t *twofa_tpl_compile(const char *src, size_t len,
    const char *const *names, size_t nnames, uint64_t raw_allowed,
    char *err, size_t err_size);

void twofa_tpl_free(twofa_tpl_t *tpl);

/*
 * Rendering takes two calls so that the caller allocates from its own
 * pool: the length, then the bytes.  vars holds one value per name given
 * to compile.  twofa_tpl_render writes exactly twofa_tpl_render_len bytes
 * (no NUL) and returns that count.  render_len returns SIZE_MAX when the
 * page would not fit in memory, which no allocation can satisfy.
 */
size_t twofa_tpl_render_len(const twofa_tpl_t *tpl,
    const twofa_tpl_value_t *vars);
size_t twofa_tpl_render(const twofa_tpl_t *tpl,
    const twofa_tpl_value_t *vars, char *out);

/*
 * HTML escaping for text and attribute values: & < > " ' become &amp;
 * &lt; &gt; &quot; &#x27;, every other byte is copied.  escape writes
 * exactly escaped_len bytes (no NUL) and returns that count; escaped_len
 * returns SIZE_MAX when the result would not fit in memory.
 */
size_t twofa_html_escaped_len(const char *src, size_t len);
size_t twofa_html_escape(const char *src, size_t len, char *out);

#endif /* TWOFA_TPL_H */
