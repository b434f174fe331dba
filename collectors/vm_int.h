/*
 * vm_int.h — what vm.c (the list, loading libvirt) and vm_control.c (the commands)
 * share, inside ringhub-collect-vm only: the table of libvirt entry points resolved
 * with dlsym(), a few helpers, and the command half's entry points.
 */
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "collector.h"

/* Every libvirt entry point vm.c and vm_control.c call; signatures from libvirt's headers. */
#define VIRT_FUNCS(X)                  \
        X(virInitialize)               \
        X(virSetErrorFunc)             \
        X(virGetLastError)             \
        X(virConnectOpenReadOnly)      \
        X(virConnectClose)             \
        X(virConnectIsAlive)           \
        X(virConnectSetKeepAlive)      \
        X(virConnectListAllDomains)    \
        X(virDomainFree)               \
        X(virDomainGetName)            \
        X(virDomainGetID)              \
        X(virDomainGetUUIDString)      \
        X(virDomainGetAutostart)       \
        X(virDomainIsPersistent)       \
        X(virDomainGetInfo)            \
        X(virDomainGetXMLDesc)         \
        X(virDomainGetBlockInfo)       \
        X(virDomainBlockStats)         \
        X(virDomainInterfaceStats)     \
        X(virConnectOpen)              \
        X(virConnectRef)               \
        X(virDomainLookupByName)       \
        X(virDomainLookupByUUIDString) \
        X(virDomainGetState)           \
        X(virDomainCreate)             \
        X(virDomainShutdown)           \
        X(virDomainReboot)             \
        X(virDomainSuspend)            \
        X(virDomainResume)             \
        X(virDomainManagedSave)        \
        X(virDomainDestroy)            \
        X(virDomainReset)              \
        X(virNodeGetInfo)

struct virt_api {
#define VIRT_FIELD(f) typeof(f) *f;
        VIRT_FUNCS(VIRT_FIELD)
#undef VIRT_FIELD
};

/* This thread's last libvirt error message (never NULL). */
const char *vm_last_error(void);
/* "running", "paused", "shut off" … for a virDomainState. */
const char *vm_state_name(int st);

/* ---- vm_control.c ---- */

struct vm_worker;
struct collector_worker;

struct vm_control {
        struct collector_worker *worker; /* started by the first command */
        struct vm_worker *w;             /* its context (the worker frees it) */
};

/*
 * Event loop. Which verb cmd asks for: >= 0; -ENOENT when the action is not one of
 * them (the skeleton's); -EINVAL after answering INVALID_COMMAND (no target, bad args,
 * no confirm where one is needed).
 */
int vm_control_check(struct collector *c, const struct collector_command *cmd);
/* Queue a checked command for the worker (started on uri the first time; api loaded).
 * 0 after queueing or answering (BUSY), or a negative errno. */
int vm_control_submit(struct collector *c, struct vm_control *ctl, const struct virt_api *api,
                      const char *uri, const struct collector_command *cmd, int verb);
/* A reference to the commands' read-write connection (virConnectClose() it), or NULL. */
virConnectPtr vm_control_conn_ref(struct vm_control *ctl);
/* Stop the worker (answering what is left) and close its connection. */
void vm_control_done(struct vm_control *ctl);
