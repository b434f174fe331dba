/*
 * plc_map_check.c — the second half of loading a PLC map: resolve what plc_map.c kept as
 * raw strings (device names, areas, vendor addresses, types, byte orders), check every
 * tag and machine against its device, fill the defaults, and plan each device's merged
 * reads. Main thread only, before any worker starts; one log line per problem.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macros.h"
#include "plc_map_impl.h"
#include "util.h"

static int finish_tag(struct plc_map *m, unsigned i, const struct tag_raw *r)
{
        struct plc_tag_conf *t = &m->tags[i];
        struct plc_layout *l = &t->layout;
        int d;
        if (r->device[0]) {
                d = plc_map_device_find(m, r->device);
                if (d < 0)
                        return log_error_errno(-EINVAL,
                                               "%s:%u: [tag.%s] device '%s' is not a "
                                               "[device.NAME] section",
                                               m->path, r->line, t->name, r->device);
        } else if (m->n_devices == 1)
                d = 0;
        else
                return log_error_errno(-EINVAL, "%s:%u: [tag.%s] needs device = (%u devices)",
                                       m->path, r->line, t->name, m->n_devices);
        t->device = (unsigned)d;
        const struct plc_device_conf *dev = &m->devices[d];
        l->area = PLC_AREA_NONE;
        if (r->area[0] && plc_area_from_name(r->area, &l->area) < 0)
                return log_error_errno(-EINVAL,
                                       "%s:%u: [tag.%s] register '%s' is not coil, discrete, "
                                       "holding or input",
                                       m->path, r->line, t->name, r->area);
        int rc = plc_address_parse(r->address, &l->area, &t->address);
        if (rc < 0)
                return log_error_errno(-EINVAL, "%s:%u: [tag.%s] address '%s' %s", m->path, r->line,
                                       t->name, r->address,
                                       rc == -EDOM ? "needs register = (or a 40001-style form)"
                                                   : "is not 0..65535 or a 40001-style form");
        if (!r->type[0])
                l->type = plc_area_is_bits(l->area) ? PLC_T_BOOL : PLC_T_UINT16;
        else if (plc_type_from_name(r->type, &l->type) < 0)
                return log_error_errno(-EINVAL, "%s:%u: [tag.%s] unknown type '%s'", m->path,
                                       r->line, t->name, r->type);
        if (!plc_type_fits_area(l->type, l->area))
                return log_error_errno(-EINVAL, "%s:%u: [tag.%s] a %s is a bit: type must be bool",
                                       m->path, r->line, t->name, plc_area_name(l->area));
        if (l->type == PLC_T_BIT) {
                uint64_t b;
                if (!r->bit[0] || plc_map_parse_uint(r->bit, 15, &b) < 0)
                        return log_error_errno(-EINVAL,
                                               "%s:%u: [tag.%s] type bit needs bit = 0..15",
                                               m->path, r->line, t->name);
                l->bit = (uint8_t)b;
        } else if (r->bit[0])
                return log_error_errno(-EINVAL, "%s:%u: [tag.%s] bit = is for type = bit", m->path,
                                       r->line, t->name);
        l->order = dev->has_order ? dev->order : m->default_order;
        if (r->order[0] && plc_order_from_name(r->order, &l->order) < 0)
                return log_error_errno(-EINVAL,
                                       "%s:%u: [tag.%s] byte_order '%s' is not ABCD, CDAB, "
                                       "BADC or DCBA",
                                       m->path, r->line, t->name, r->order);
        if ((uint32_t)t->address + plc_type_width(l->type) > 65536u)
                return log_error_errno(-EINVAL, "%s:%u: [tag.%s] runs past address 65535", m->path,
                                       r->line, t->name);
        if (!t->scan_ms)
                t->scan_ms = dev->has_scan ? dev->scan_ms : m->default_scan_ms;
        snprintf(t->node_id, sizeof(t->node_id), "%s:%u", plc_area_name(l->area), t->address);
        return 0;
}

static int finish_machine(struct plc_map *m, unsigned i)
{
        struct plc_machine_conf *mc = &m->machines[i];
        const char *dev_name = m->raw ? m->raw->machine_device[i] : "";
        unsigned line = m->raw ? m->raw->machine_line[i] : 0;
        if (!mc->timeout_ms)
                mc->timeout_ms = m->default_timeout_ms;
        if (!mc->scan_ms)
                mc->scan_ms = m->default_scan_ms;
        if (mc->kind == PLC_MACHINE_CAROUSEL) {
                if (!mc->host[0])
                        return log_error_errno(-EINVAL, "%s:%u: [machine.%s] needs host =", m->path,
                                               line, mc->id);
                return 0;
        }
        int d = dev_name[0] ? plc_map_device_find(m, dev_name) : m->n_devices == 1 ? 0 : -ENOENT;
        if (d < 0)
                return log_error_errno(-EINVAL,
                                       "%s:%u: [machine.%s] device = must name a [device.NAME]",
                                       m->path, line, mc->id);
        mc->device = (unsigned)d;
        strscpy(mc->host, sizeof(mc->host), m->devices[d].host);
        mc->port = m->devices[d].port;
        if (!mc->status.set || plc_area_is_bits(mc->status.area))
                return log_error_errno(-EINVAL,
                                       "%s:%u: [machine.%s] needs status = a holding or input "
                                       "register",
                                       m->path, line, mc->id);
        if (mc->position.set && plc_area_is_bits(mc->position.area))
                return log_error_errno(-EINVAL, "%s:%u: [machine.%s] position must be a register",
                                       m->path, line, mc->id);
        if ((mc->command.set && mc->command.area != PLC_AREA_HOLDING) ||
            (mc->argument.set && mc->argument.area != PLC_AREA_HOLDING))
                return log_error_errno(-EINVAL,
                                       "%s:%u: [machine.%s] command and argument must be holding "
                                       "registers",
                                       m->path, line, mc->id);
        if (mc->estop.set && !plc_area_writable(mc->estop.area))
                return log_error_errno(-EINVAL,
                                       "%s:%u: [machine.%s] estop must be a coil or a holding "
                                       "register",
                                       m->path, line, mc->id);
        return 0;
}

int plc_map_finish(struct plc_map *m)
{
        int errors = 0;
        for (unsigned i = 0; i < m->n_devices; i++) {
                struct plc_device_conf *d = &m->devices[i];
                if (!d->host[0]) {
                        log_error("[device.%s] needs host =", d->name);
                        errors++;
                }
                if (!d->has_timeout)
                        d->timeout_ms = m->default_timeout_ms;
                char host[sizeof(d->host)]; /* a copy: -Wrestrict sees one object */
                memcpy(host, d->host, sizeof(host));
                snprintf(d->endpoint, sizeof(d->endpoint), "modbus://%s:%u/%u", host, d->port,
                         d->unit);
        }
        for (unsigned i = 0; i < m->n_tags; i++)
                if (!m->raw || finish_tag(m, i, &m->raw->tags[i]) < 0)
                        errors++;
        for (unsigned i = 0; i < m->n_machines; i++)
                if (finish_machine(m, i) < 0)
                        errors++;
        if (m->raw) {
                free(m->raw->tags);
                free(m->raw);
                m->raw = NULL;
        }
        return errors ? -EINVAL : 0;
}

static int cmp_tag(const void *a, const void *b, void *ud)
{
        const struct plc_map *m = ud;
        const struct plc_tag_conf *x = &m->tags[*(const unsigned *)a];
        const struct plc_tag_conf *y = &m->tags[*(const unsigned *)b];
        if (x->layout.area != y->layout.area)
                return x->layout.area < y->layout.area ? -1 : 1;
        if (x->scan_ms != y->scan_ms)
                return x->scan_ms < y->scan_ms ? -1 : 1;
        if (x->address != y->address)
                return x->address < y->address ? -1 : 1;
        return 0;
}

void plc_blocks_free(struct plc_block *b, unsigned n)
{
        for (unsigned i = 0; b && i < n; i++)
                free(b[i].tags);
        free(b);
}

int plc_plan_blocks(const struct plc_map *m, unsigned device, struct plc_block **ret)
{
        _cleanup_free_ unsigned *idx = calloc(m->n_tags ? m->n_tags : 1, sizeof(*idx));
        unsigned n = 0, nb = 0;
        struct plc_block *blocks = NULL;
        if (!idx)
                return -ENOMEM;
        for (unsigned i = 0; i < m->n_tags; i++)
                if (m->tags[i].device == device)
                        idx[n++] = i;
        qsort_r(idx, n, sizeof(*idx), cmp_tag, (void *)m);
        for (unsigned k = 0; k < n;) {
                const struct plc_tag_conf *first = &m->tags[idx[k]];
                enum plc_area area = first->layout.area;
                uint32_t max = plc_area_is_bits(area) ? PLC_MAX_BITS : PLC_MAX_REGS;
                uint32_t start = first->address;
                uint32_t end = start + plc_type_width(first->layout.type);
                unsigned j = k + 1;
                for (; j < n; j++) {
                        const struct plc_tag_conf *t = &m->tags[idx[j]];
                        uint32_t t_end = t->address + plc_type_width(t->layout.type);
                        if (t->layout.area != area || t->scan_ms != first->scan_ms ||
                            t->address > end + m->merge_gap || MAX(end, t_end) - start > max)
                                break;
                        end = MAX(end, t_end);
                }
                struct plc_block *nbk = realloc(blocks, (nb + 1) * sizeof(*nbk));
                if (!nbk) {
                        plc_blocks_free(blocks, nb);
                        return -ENOMEM;
                }
                blocks = nbk;
                struct plc_block *b = &blocks[nb++];
                *b = (struct plc_block){ .device = device,
                                         .area = area,
                                         .start = (uint16_t)start,
                                         .count = (uint16_t)(end - start),
                                         .scan_ms = first->scan_ms,
                                         .n_tags = j - k };
                b->tags = malloc(b->n_tags * sizeof(*b->tags));
                if (!b->tags) {
                        plc_blocks_free(blocks, nb);
                        return -ENOMEM;
                }
                memcpy(b->tags, idx + k, b->n_tags * sizeof(*b->tags));
                snprintf(b->label, sizeof(b->label), "%s %u-%u", plc_area_name(area), start,
                         end - 1);
                k = j;
        }
        *ret = blocks;
        return (int)nb;
}
