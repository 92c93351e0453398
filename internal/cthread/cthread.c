#include <stdatomic.h>

#include "cthread.h"

static atomic_uint aigw_threads;
static _Thread_local uint32_t aigw_thread; // the thread's number + 1; 0 until it first asks

uint32_t aigw_thread_number(void) {
  if (aigw_thread == 0) {
    aigw_thread = atomic_fetch_add_explicit(&aigw_threads, 1, memory_order_relaxed) + 1;
  }
  return aigw_thread - 1;
}
