/*
 * QR codes as compact SVG, made with libqrencode.
 */

#ifndef TWOFA_QR_H
#define TWOFA_QR_H

#include <stddef.h>


/*
 * An SVG of the QR code of text (8-bit mode, error correction level M):
 * a viewBox in modules with a 4-module quiet zone, a white background and
 * one path of dark modules, shape-rendering="crispEdges", role="img" and
 * an aria-label.  id (may be NULL) becomes the id attribute.  Returns a
 * malloc'd NUL-terminated string (free() it) and its length in *svg_len,
 * or NULL.
 */
char *twofa_qr_svg(const char *text, size_t len, const char *id,
    size_t *svg_len);

#endif /* TWOFA_QR_H */
