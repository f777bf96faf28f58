/* tests/fuzz/fuzz_monitor.c - libFuzzer target for the monitor's input
 * side: each input line is a record fed to one monitor (the schema's
 * defaults, state in memory: cashtag keys, sentiment.label, 1 h windows;
 * out-of-order, very late, missing and far-future times all meet the
 * window code); every line is also parsed as a timestamp and fed as the
 * unchecked text of a post.  The monitor must never crash, and a
 * rejected record must carry a message.
 *
 * The first byte picks the configuration: the schema's defaults, or
 * sliding windows with every key source.
 *
 * make check builds and runs it on tests/fuzz/seeds/monitor/
 * (tests/fuzz/local.mk), with the monitor's sources instrumented like the
 * rest of the library.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/monitor.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Odd first byte: sliding windows (lagged baselines), every key source,
 * timestamps skipped when bad.  Even: the schema's defaults. */
static const char sliding_yaml[] =
        "socfw: 1\nmonitor:\n"
        "  window: {type: sliding, size: 3600, step: 900, lateness: 600}\n"
        "  keys: {from: [cashtags, hashtags, field, nlu, all]}\n"
        "  timestamp: {policy: skip}\n"
        "  detect: {warmup: 1, min_volume: 1}\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static socfw_pipeline *sliding;
        static socfw_registry *reg;
        socfw_monitor *m = NULL;
        socfw_error err = {0};
        if (!sliding) {
                reg = socfw_registry_new();
                if (!reg ||
                    socfw_pipeline_load_buffer(&sliding, sliding_yaml,
                                               sizeof sliding_yaml - 1,
                                               "fuzz.yaml", NULL, NULL, 0,
                                               &err) < 0 ||
                    socfw_pipeline_validate(sliding, reg, &err) < 0)
                        abort();
        }
        const socfw_config *cfg =
                size && (data[0] & 1)
                        ? socfw_pipeline_section(sliding, "monitor")
                        : NULL;
        if (socfw_monitor_open(&m, cfg, NULL, &err) < 0)
                abort();
        size_t start = 0;
        long line = 0;
        for (size_t i = 0; i <= size; i++) {
                if (i < size && data[i] != '\n')
                        continue;
                line++;
                json_t *rec = json_loadb((const char *)data + start,
                                         i - start, 0, NULL);
                json_t *str = json_stringn_nocheck((const char *)data + start,
                                                   i - start);
                double t;
                (void)socfw_monitor_parse_time(str, &t);
                json_decref(str);
                if (json_is_object(rec)) {
                        /* the defaults read sentiment.label and cashtags */
                        if (socfw_monitor_feed(m, rec, "fuzz", line,
                                               (int64_t)i, &err) < 0 &&
                            !err.message[0])
                                abort();
                }
                json_decref(rec);
                /* the raw bytes as an unchecked text: keys are scanned
                 * from whatever a caller hands over */
                rec = json_pack("{s:o, s:I, s:{s:s}}", "text",
                                json_stringn_nocheck(
                                        (const char *)data + start,
                                        i - start),
                                "timestamp", (json_int_t)(1700000000 + line),
                                "sentiment", "label", "negative");
                if (rec && socfw_monitor_feed(m, rec, "fuzz", line,
                                              (int64_t)i, &err) < 0 &&
                    !err.message[0])
                        abort();
                json_decref(rec);
                start = i + 1;
        }
        if (socfw_monitor_finish(m, &err) < 0 && !err.message[0])
                abort();
        socfw_monitor_close(m);
        return 0;
}
