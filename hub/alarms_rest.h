/*
 * alarms_rest.h — REST for alarms (alarms_rest.c): GET/POST /api/v1/alarms,
 * GET/PUT/DELETE /api/v1/alarms/{id}, POST /api/v1/alarms/{id}/acknowledge|shelve|
 * unshelve|suppress|unsuppress|out-of-service|return-to-service and
 * POST /api/v1/alarms/acknowledge-all.
 *
 * Process: ringhub, the mhd thread; answers at once (nothing waits on a collector).
 */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* true when the request is an alarm route (*ret is then the handler's result). */
bool alarms_rest(struct MHD_Connection *conn, const char *url, const char *method,
                 const char *upload, size_t *upload_size, void **req_cls, enum MHD_Result *ret);
