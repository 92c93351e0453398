// aigw_thread_number numbers the threads that call into aigw, in the order
// they first ask (0, 1, ...): Envoy runs a stream, both its filter chains
// and every attempt, on one worker thread, so both ABI adapters key state
// they keep per worker by it (cthread.go).
#ifndef AIGW_CTHREAD_H
#define AIGW_CTHREAD_H

#include <stdint.h>

uint32_t aigw_thread_number(void);

#endif
