/* serve_ui.c - GET / of `socfw serve`: the web page (web/index.html, one
 * self-contained file installed in $(pkgdatadir)/web; no build step, no
 * CDN).  Looked up in $SOCFW_WEBDIR, then the installed directory, then
 * the source tree (an uninstalled build).  The Content-Security-Policy
 * keeps the page to this server: nothing is fetched from elsewhere. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/serve.h"
#include "socfw/io.h"

#ifndef SOCFW_WEBDIR
#define SOCFW_WEBDIR "/usr/local/share/socfw/web"
#endif

#define UI_MAX_BYTES (1u << 20)

/* The page's bytes (caller frees), or NULL. */
static char *
read_page(size_t *len)
{
        const char *env = getenv("SOCFW_WEBDIR");
        const char *dirs[3] = {env && env[0] ? env : NULL, SOCFW_WEBDIR,
                               SOCFW_SRCDIR "/web"};
        for (size_t i = 0; i < 3; i++) {
                if (!dirs[i])
                        continue;
                char path[4200];
                snprintf(path, sizeof path, "%s/index.html", dirs[i]);
                FILE *f = fopen(path, "rb");
                if (!f)
                        continue;
                char *buf = malloc(UI_MAX_BYTES);
                size_t n = buf ? fread(buf, 1, UI_MAX_BYTES, f) : 0;
                fclose(f);
                if (buf && n > 0 && n < UI_MAX_BYTES) {
                        *len = n;
                        return buf;
                }
                free(buf);
        }
        return NULL;
}

enum MHD_Result
serve_ui(server *s, struct MHD_Connection *c, serve_request *rq)
{
        (void)s;
        size_t len = 0;
        char *page = read_page(&len);
        if (!page)
                return serve_send_error(c, rq, 404,
                                        "the web page is not installed "
                                        "(hint: `make install`, or set "
                                        "SOCFW_WEBDIR to the directory "
                                        "holding index.html)");
        struct MHD_Response *r = MHD_create_response_from_buffer(
                len, page, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(page);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; script-src 'self' "
                                "'unsafe-inline'; style-src 'unsafe-inline'");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        return serve_queue(c, rq, 200, r);
}
