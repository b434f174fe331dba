/*
 * control_rest.h — the REST control routes (POST /api/v1/docker/{id}/stop, /vm/{name}/
 * start, /array/start, /array/parity-check/start, /disks/{id}/spinup,
 * /collectors/{name}/refresh) on libmicrohttpd, answered as the Unraid agent does.
 *
 * Process: ringhub, libmicrohttpd's thread. A request is suspended while its command is
 * in flight (no other request or client waits for it) and resumed by the command's
 * callback from whichever thread delivers the answer. The daemon must run with
 * MHD_ALLOW_SUSPEND_RESUME.
 */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * rest.c's handler calls this first for every call of every request. true: the request
 * is a control route and *ret is the handler's result (this module owns *req_cls, a
 * single malloc block request_completed may free()); false: not ours.
 */
struct control_who;
/* The caller's identity: a token's role and name with auth on (401 queued into *ret and
 * false when it has none); its address with auth off. name (size bytes) backs who->name. */
bool control_rest_identify(struct MHD_Connection *conn, struct control_who *who, char *name,
                           size_t size, enum MHD_Result *ret);

bool control_rest(struct MHD_Connection *conn, const char *url, const char *method,
                  const char *upload, size_t *upload_size, void **req_cls, enum MHD_Result *ret);
