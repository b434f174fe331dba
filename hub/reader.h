/*
 * reader.h — the ring reader thread (reader.c): ring → state cache → events.
 *
 * Process: ringhub. Started once the ring is attached; everything it produces leaves
 * through the publish path (events.h).
 */
#pragma once

int reader_start(void);
void reader_stop(void);
/* Block until the reader has rebuilt state from the ring (or stop). */
void reader_wait_primed(void);
