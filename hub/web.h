/*
 * web.h — the dashboard: the files of hub/web/, compiled into the hub, served on GET /
 * and /ui/… (web.c). The asset table is generated at build time (hub/web/embed.py).
 */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct web_asset {
        const char *url;  /* "/" or "/ui/NAME" */
        const char *type; /* Content-Type */
        const char *etag; /* quoted, from the bytes' SHA-256 */
        const unsigned char *raw;
        size_t raw_len;
        const unsigned char *gz; /* gzip copy, NULL when it would not pay */
        size_t gz_len;
};

extern const struct web_asset web_assets[];
extern const unsigned web_n_assets;

/* Is url the dashboard's (/ or /ui/…)? Those need no token: they carry no data. */
bool web_path(const char *url);

/* Answer a request for a dashboard path (web_path(url) true): 200, 304, 404 or 405. */
enum MHD_Result web_respond(struct MHD_Connection *conn, const char *url, const char *method);
