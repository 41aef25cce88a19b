/*
 * QR codes as compact SVG.
 *
 * The dark modules of each row are drawn as horizontal runs of one path,
 * which keeps the markup small (a few KiB for an otpauth URI) and leaves
 * no hairline seams between adjacent modules.  The root element has no
 * width or height: it fills the width of its container and keeps its
 * square aspect from the viewBox, so the page's CSS decides the size.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "twofa_qr.h"


#define TWOFA_QR_QUIET      4
#define TWOFA_QR_ID_MAX     64

/* "M{x} {y}h{w}v1h-{w}z" with numbers of up to 3 digits */
#define TWOFA_QR_RUN_MAX    (sizeof("M999 999h999v1h-999z") - 1)


static int
twofa_qr_id_valid(const char *id)
{
    size_t  i;
    char    c;

    for (i = 0; id[i] != '\0'; i++) {
        c = id[i];

        if (i == TWOFA_QR_ID_MAX
            || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return i > 0;
}


static int
twofa_qr_dark(const QRcode *qr, int x, int y)
{
    return qr->data[y * qr->width + x] & 1;
}


/* Horizontal runs of dark modules: one path segment each. */

static size_t
twofa_qr_runs(const QRcode *qr)
{
    int     x, y;
    size_t  runs;

    runs = 0;

    for (y = 0; y < qr->width; y++) {
        for (x = 0; x < qr->width; x++) {
            if (twofa_qr_dark(qr, x, y)
                && (x == 0 || !twofa_qr_dark(qr, x - 1, y)))
            {
                runs++;
            }
        }
    }

    return runs;
}


char *
twofa_qr_svg(const char *text, size_t len, const char *id, size_t *svg_len)
{
    int      x, y, run, size, n;
    char    *svg, *p;
    size_t   runs, cap;
    QRcode  *qr;

    if (text == NULL || len == 0 || len > INT_MAX || svg_len == NULL
        || (id != NULL && !twofa_qr_id_valid(id)))
    {
        return NULL;
    }

    qr = QRcode_encodeData((int) len, (const unsigned char *) text, 0,
                           QR_ECLEVEL_M);
    if (qr == NULL) {
        return NULL;
    }

    runs = twofa_qr_runs(qr);
    size = qr->width + 2 * TWOFA_QR_QUIET;

    /* Fixed markup, the id, and every run at its longest. */

    cap = 512 + TWOFA_QR_ID_MAX + runs * TWOFA_QR_RUN_MAX;

    svg = malloc(cap);
    if (svg == NULL) {
        QRcode_free(qr);
        return NULL;
    }

    p = svg;

    n = snprintf(p, cap, "<svg xmlns=\"http://www.w3.org/2000/svg\"%s%s%s"
                 " viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"QR code\""
                 " shape-rendering=\"crispEdges\">"
                 "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
                 "<path fill=\"#000\" d=\"",
                 id ? " id=\"" : "", id ? id : "", id ? "\"" : "",
                 size, size, size, size);

    if (n < 0 || (size_t) n >= cap) {
        goto failed;
    }

    p += n;

    for (y = 0; y < qr->width; y++) {
        for (x = 0; x < qr->width; x += run) {
            run = 1;

            if (!twofa_qr_dark(qr, x, y)) {
                continue;
            }

            while (x + run < qr->width && twofa_qr_dark(qr, x + run, y)) {
                run++;
            }

            n = snprintf(p, cap - (p - svg), "M%d %dh%dv1h-%dz",
                         x + TWOFA_QR_QUIET, y + TWOFA_QR_QUIET, run, run);

            if (n < 0 || (size_t) n >= cap - (p - svg)) {
                goto failed;
            }

            p += n;
        }
    }

    n = snprintf(p, cap - (p - svg), "\"/></svg>");

    if (n < 0 || (size_t) n >= cap - (p - svg)) {
        goto failed;
    }

    p += n;

    QRcode_free(qr);

    *svg_len = p - svg;

    return svg;

failed:

    QRcode_free(qr);
    free(svg);

    return NULL;
}
