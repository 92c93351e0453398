// fm.c: Envoy's filter-manager iteration rules (source/common/http/filter_manager.cc) for one
// filter followed by a terminal, in one direction. The downstream chain is golang filter ->
// router (decode) and golang filter -> codec (encode); the upstream chain is dynamic-modules
// filter -> upstream codec (decode) and dynamic-modules filter -> router (encode).
#include "host.h"

void fm_init(fm_dir_t* d, const fm_ops_t* ops, void* ctx) {
  memset(d, 0, sizeof(*d));
  d->ops = ops;
  d->ctx = ctx;
  d->iter = IT_Continue;
}

void fm_free(fm_dir_t* d) {
  if (d->has_buffered) buf_free(&d->buffered);
  d->has_buffered = false;
}

// commonHandleBufferData: data already in the buffer is not buffered twice.
static void buffer_add(fm_dir_t* d, buf_t* data) {
  if (data == &d->buffered) return;
  if (!d->has_buffered) {
    buf_init(&d->buffered);
    d->has_buffered = true;
  }
  buf_move(&d->buffered, data);
}

static void pass_headers(fm_dir_t* d, bool end) {
  if (end) d->terminal_end = true;
  d->ops->t_headers(d->ctx, end);
}

static void pass_data(fm_dir_t* d, buf_t* data, bool end) {
  if (d->terminal_end) return;
  if (end) d->terminal_end = true;
  d->ops->t_data(d->ctx, data, end);
}

bool fm_can_continue(fm_dir_t* d) { return d->iter != IT_Continue; }

void fm_headers(fm_dir_t* d, bool end) {
  if (d->ops->aborted(d->ctx)) return;
  d->headers_seen = true;
  if (end) {
    d->observed_end = true;
    d->filter_end = true;
  }
  int st = d->ops->f_headers(d->ctx, end);
  if (d->ops->aborted(d->ctx)) return;
  switch (st) {
  case FH_Continue:
    d->headers_continued = true;
    pass_headers(d, end);
    break;
  case FH_ContinueAndDontEndStream:
    d->headers_continued = true;
    pass_headers(d, false);
    break;
  case FH_StopIteration:
    d->iter = IT_StopSingle;
    break;
  case FH_StopAllBuffer:
    d->iter = IT_StopAllBuffer;
    break;
  case FH_StopAllWatermark:
    d->iter = IT_StopAllWatermark;
    break;
  default:
    violation("filter returned unknown headers status %d", st);
    d->iter = IT_StopSingle;
  }
}

static void filter_data(fm_dir_t* d, buf_t* data, bool end) {
  // "If end_stream_ is marked for a filter, the data is not for this filter and filters after."
  if (d->filter_end) return;
  d->filter_end = end;
  d->in_data_cb = true;
  int st = d->ops->f_data(d->ctx, data, end);
  d->in_data_cb = false;
  if (d->ops->aborted(d->ctx)) return;
  switch (st) {
  case FD_Continue:
    if (d->iter == IT_StopSingle) {
      buffer_add(d, data);
      fm_continue(d);
      return;
    }
    pass_data(d, data, end);
    break;
  case FD_StopIterationAndBuffer:
  case FD_StopIterationAndWatermark:
    d->iter = IT_StopSingle;
    buffer_add(d, data);
    break;
  case FD_StopIterationNoBuffer:
    d->iter = IT_StopSingle;
    // A terminated stream must resume with an (empty) end_stream frame on continue.
    if (d->observed_end && !d->has_buffered) {
      buf_init(&d->buffered);
      d->has_buffered = true;
    }
    break;
  default:
    violation("filter returned unknown data status %d", st);
    d->iter = IT_StopSingle;
  }
}

void fm_data(fm_dir_t* d, buf_t* data, bool end) {
  if (d->ops->aborted(d->ctx)) return;
  if (end) d->observed_end = true;
  // handleDataIfStopAll: the filter itself does not see data while it stopped all iteration.
  if (d->iter == IT_StopAllBuffer || d->iter == IT_StopAllWatermark) {
    buffer_add(d, data);
    return;
  }
  filter_data(d, data, end);
}

// ActiveStreamFilterBase::commonContinue.
void fm_continue(fm_dir_t* d) {
  if (d->iter == IT_Continue) return; // canContinue() == false: nothing is stopped
  if (d->ops->aborted(d->ctx)) return;
  if (d->iter == IT_StopAllBuffer || d->iter == IT_StopAllWatermark) d->iterate_from_current = true;
  d->iter = IT_Continue;
  if (!d->headers_continued) {
    d->headers_continued = true;
    pass_headers(d, d->observed_end && !d->has_buffered);
  }
  if (d->ops->aborted(d->ctx)) return;
  if (d->has_buffered) {
    if (d->iterate_from_current)
      filter_data(d, &d->buffered, d->observed_end);
    else
      pass_data(d, &d->buffered, d->observed_end);
  }
  d->iterate_from_current = false;
}

// inject{De,En}codedDataToFilterChain: continues headers if needed, then the data goes to the
// next filter (the terminal), bypassing this filter's buffer.
void fm_inject(fm_dir_t* d, buf_t* data, bool end) {
  if (d->ops->aborted(d->ctx)) return;
  if (!d->headers_continued) {
    d->headers_continued = true;
    pass_headers(d, false);
  }
  if (d->ops->aborted(d->ctx)) return;
  if (d->iterate_from_current)
    filter_data(d, data, end);
  else
    pass_data(d, data, end);
}

void fm_add_data(fm_dir_t* d, buf_t* data) { buffer_add(d, data); }
