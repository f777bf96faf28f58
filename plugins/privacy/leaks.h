/* plugins/privacy/leaks.h - the privacy task's own evaluation: what
 * masking with the tagger's predictions would leave in the clear.
 *
 * The host reports entity-level F1 of the tagger (exact spans, right
 * type).  Masking needs less and more: a name tagged LOCATION instead of
 * PERSON is still masked, but one word of a name left O is a leak.  So,
 * per word of the evaluated records (socfw_eval_tags):
 *   masked_word_recall  gold entity words the tagger tags as any entity
 *   leak_free_records   records with an entity that leak none of it
 *   over_masked_rate    other words masked needlessly (lower is better)
 * and a report listing the first leaks as file:line: 'word' (TYPE), the
 * word read back from the record (socfw_eval_record) as parse_example
 * split it.
 *
 *     static int privacy_evaluate(void *state, socfw_eval *ev,
 *                                 socfw_error *err)
 *     {
 *             return socfw_pii_eval_leaks(ev, ctx, 10, err);
 *     }
 */
#ifndef SOCFW_PII_LEAKS_H
#define SOCFW_PII_LEAKS_H

#include <stddef.h>

#include "socfw/plugin.h"

/* Adds the three metrics and the report (at most `max_listed` leaks) to
 * `ev` when it holds tags and the task's labels have an "O"; does nothing
 * otherwise.  Returns 0 or SOCFW_ENOMEM (in err). */
int socfw_pii_eval_leaks(socfw_eval *ev, const socfw_task_ctx *ctx,
                         size_t max_listed, socfw_error *err);

#endif
