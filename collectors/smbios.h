/*
 * smbios.h — the SMBIOS tables of ringhub-collect-system: BIOS, baseboard, processor,
 * caches, memory array and memory devices from /sys/firmware/dmi/tables/DMI (under
 * --sysfs), parsed once in C (no dmidecode).
 */
#pragma once

#include "collector.h"

/*
 * A task of the system collector: the first run reads and parses the table (kept in
 * memory, a few KiB); every run writes the records again (cheap: no file access), so a
 * hub that restarts long after boot still finds them in the ring. No table (no
 * permission, not x86, a fixture without it): source "smbios" absent, no records.
 */
int smbios_run(struct collector *c);
/* Free what the first run kept. */
void smbios_done(void);
