/* help.c - `socfw help [COMMAND|pipeline]`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/param.h"
#include "socfw/pipeline.h"

void cli_list_commands(FILE *out);

static const struct topic {
        const char *name;
        const char *text;
} topics[] = {
        {"environment",
         "Environment variables (socfw(1), ENVIRONMENT, says the same):\n"
         "\n"
         "  SOCFW_PLUGIN_PATH     colon-separated plugin directories, searched\n"
         "                        after --plugin-path and before the installed\n"
         "                        ones\n"
         "  SOCFW_LOG             log level: error, warn, info (default), debug,\n"
         "                        trace\n"
         "  SOCFW_THREADS         worker threads when --threads is not given\n"
         "                        (default: every core)\n"
         "  SOCFW_CACHE_DIR       cache root of `socfw pull` (models go to\n"
         "                        $SOCFW_CACHE_DIR/hub; default\n"
         "                        $XDG_CACHE_HOME/socfw/hub, else\n"
         "                        ~/.cache/socfw/hub)\n"
         "  SOCFW_HUB_ENDPOINT    hub address of `socfw pull` (default\n"
         "                        https://huggingface.co)\n"
         "  HF_TOKEN              access token for gated or private\n"
         "                        repositories\n"
         "  SOCFW_API_KEY         `socfw serve`: the bearer token every request\n"
         "                        but /health must carry (as --api-key)\n"
         "  SOCFW_WEBDIR          `socfw serve`: the directory of the chat page\n"
         "                        (default: the installed one)\n"
         "\n"
         "Kernels (default: the best the CPU has, chosen at run time; the\n"
         "others are for comparison and debugging):\n"
         "\n"
         "  SOCFW_QKERNEL         quantised weights: scalar (portable integer\n"
         "                        kernels and dequantisers) or avx2-q8 (AVX2 with\n"
         "                        one-token activations quantised per 32\n"
         "                        elements for every type and the previous Q4_0\n"
         "                        kernel; the default quantises them per 256 for\n"
         "                        the K-quants Q2_K..Q6_K)\n"
         "  SOCFW_QGEMM           quantised weights times many rows (prefill,\n"
         "                        batched decoding): int (integer GEMM), panel\n"
         "                        (float32 panels then sgemm; up to 8 rows the dot\n"
         "                        products), dot (one-token dot products per row,\n"
         "                        any row count) or auto (default: whichever was\n"
         "                        measured faster per type and row count)\n"
         "  SOCFW_GEMV            float32 one-token products: avx2, scalar or blas\n"
         "                        (OpenBLAS sgemv, the reference)\n"
         "  SOCFW_DECODE_BATCH    1 or 0: decode concurrent generations in batches\n"
         "                        always or never (default: when the backbone's\n"
         "                        weights take 8 MiB or more)\n"
         "  SOCFW_DECODE_WAIT_US  how long a batched decoding step waits for the\n"
         "                        other live generations, 0 to 1000000 us\n"
         "                        (default: as long as a step takes)\n"
         "\n"
         "OpenBLAS reads its own (OPENBLAS_NUM_THREADS, OPENBLAS_CORETYPE, ...);\n"
         "socfw leaves them as they are.\n"},
        {"run",
         "Usage: socfw run PIPELINE.yaml [--set KEY=VALUE]... [--resume]\n"
         "                 [--force] [--retrain TASK]... [--input FILE]\n"
         "                 [--output FILE] [--text-field NAME]\n"
         "       socfw run PIPELINE.yaml --continue RUN --data NEW.jsonl\n"
         "                 [--task T] [--set KEY=VALUE]...\n"
         "\n"
         "Validate the pipeline, then do what it describes: pretrain and\n"
         "fine-tune its tasks when they name training data, evaluate them,\n"
         "and pass the posts of output.input (or --input) through the\n"
         "chain, writing one JSON line per post to output.dir/predictions\n"
         "(or --output; - is standard output).\n"
         "\n"
         "A finished run directory is self-contained for inference: it holds\n"
         "pipeline.resolved.yaml (the pipeline as it ran: overrides applied,\n"
         "paths absolute, inferred labels written out, defaults as comments),\n"
         "README.md (a model card: tasks, labels, data and sizes, metrics,\n"
         "training settings, backbone, version, date, limitations), and\n"
         "run.json (the backbone by source and fingerprint, and the size and\n"
         "SHA-256 of every file inference reads).  predict, evaluate, serve\n"
         "and chat on the directory need neither the pipeline file nor the\n"
         "data.  A directory that already holds a trained run is refused\n"
         "unless --force or --resume, or every task trains its own adapter\n"
         "(then unchanged tasks are reused and only new or changed ones train).\n"
         "\n"
         "Several processes (a build with MPI; `socfw version` says):\n"
         "`mpirun -np N socfw run PIPELINE.yaml` (or srun) splits every batch\n"
         "between the processes and averages their gradients; the result\n"
         "equals one process's up to float rounding.  Rank 0 logs and writes\n"
         "the run directory; the others print only warnings and errors.  A\n"
         "process that stops answering is named after train.dist_timeout\n"
         "seconds.  --resume works with another N.\n"
         "\n"
         "  --force            train again over a finished run, replacing it\n"
         "  --resume           continue an interrupted training run from its\n"
         "                     output directory: same data order, optimizer\n"
         "                     state and random numbers as an uninterrupted run\n"
         "                     (pretraining too: pretrain.chunked pauses at\n"
         "                     pretrain.max_minutes, --resume goes on)\n"
         "  --retrain TASK     train TASK again even though its adapter in\n"
         "                     output.dir/adapters/ was trained on the same\n"
         "                     section, data and backbone (such tasks are\n"
         "                     otherwise loaded, not trained: adding a task\n"
         "                     to a pipeline trains only the new one)\n"
         "  --set KEY=VALUE    override a value of the file, e.g.\n"
         "                     --set train.lr=1e-4 --set tasks.sentiment.weight=2\n"
         "  --input FILE       JSON Lines posts (field 'text'); - = stdin\n"
         "  --output FILE      where the chain's output goes\n"
         "  --text-field NAME  field of the input holding the text\n"
         "\n"
         "Continual re-fine-tuning (--continue RUN --data NEW.jsonl): train\n"
         "a new version of task T's adapter (default the only task with\n"
         "one) from its current version on the new labelled data mixed with\n"
         "a replay sample of its old data.train (continual.replay), with an\n"
         "optional L2 pull toward the current weights (continual.l2_sp); a\n"
         "share of the new data (continual.holdout) is held out.  The gate\n"
         "promotes the new version only if, on continual.metric, it is no\n"
         "worse than continual.tolerance on the gate set (continual.gate,\n"
         "default the task's data.valid) and better on the held-out part.\n"
         "Versions are kept in RUN/adapters/T/versions/vN with their scores,\n"
         "decision and data fingerprints (socfw adapter versions).  New\n"
         "labels the task does not know, and a gate set sharing a text with\n"
         "the new data, are refused.  Exit status 0 when promoted, 1 when\n"
         "the gate refused (the current version keeps serving; the reasons\n"
         "are printed) or on error.\n"},
        {"export",
         "Usage: socfw export RUN_DIR DIR [--with-backbone]\n"
         "\n"
         "Copy a finished run into the new directory DIR, without the state\n"
         "kept for --resume, after checking every file against run.json.  The\n"
         "copy is used like the original (socfw predict DIR ...).  A backbone\n"
         "the pipeline pretrained is part of the run; one loaded from\n"
         "backbone.model (a path or hub:ORG/NAME) is referred to by its source\n"
         "and fingerprint, and copied into DIR/backbone with --with-backbone.\n"},
        {"adapter",
         "Usage: socfw adapter merge RUN --task T --output DIR [--model M]\n"
         "                           [--force]\n"
         "       socfw adapter inspect ADAPTER_DIR\n"
         "       socfw adapter versions RUN --task T\n"
         "       socfw adapter promote RUN --task T --version N\n"
         "       socfw adapter rollback RUN --task T [--version N]\n"
         "\n"
         "merge: fold a task's LoRA or IA3 adapter into its base model and\n"
         "write a standalone Hugging Face directory whose outputs equal the\n"
         "base model run with the adapter (socfw logits --adapter).\n"
         "inspect: type, sites, ranks, size and base-model fingerprint of an\n"
         "adapter directory (OUTPUT/adapters/<task>, or one PEFT wrote).\n"
         "versions: the versions continued runs (socfw run --continue) made\n"
         "of a task's adapter: decision, gate scores, time; * is current.\n"
         "promote: make version N current (predict uses it at once, a running\n"
         "serve after SIGHUP), whatever its gate said.  rollback: make the\n"
         "current version's parent (or version N) current again.\n"},
        {"init",
         "Usage: socfw init [--task PLUGIN]... [--output FILE]\n"
         "\n"
         "Write a complete pipeline to start from (standard output, or FILE,\n"
         "which must not exist): a backbone, one task per --task (sentiment\n"
         "when none is given; the plugins `socfw inspect` lists), training,\n"
         "evaluation, the privacy stage (always: remove it if unwanted) and the\n"
         "chain.  Every task lists its plugin's and head's keys with their\n"
         "defaults as comments.  It validates as written; point the commented\n"
         "data: lines at your files (or give pretrain.corpus or\n"
         "backbone.model) before `socfw run`.\n"},
        {"validate",
         "Usage: socfw validate PIPELINE.yaml [--set KEY=VALUE]...\n"
         "\n"
         "Check every key of the pipeline against the schema of socfw and of\n"
         "the plugins it names, and the adapter settings `run` would\n"
         "refuse (before any pretraining), without running anything.\n"
         "Problems are printed as FILE:LINE:COLUMN: message, with a\n"
         "suggestion for a misspelt key.  Exit status 0 when valid, 1\n"
         "otherwise.\n"},
        {"inspect",
         "Usage: socfw inspect [NAME]\n"
         "\n"
         "Without NAME, list the task plugins and heads found on the plugin\n"
         "path (--plugin-path, $SOCFW_PLUGIN_PATH, the build tree, the\n"
         "install directory) and report modules that could not be loaded.\n"
         "With NAME, show that plugin's details (its plugin ABI, hooks and,\n"
         "for a head, the target it learns from) and every parameter it\n"
         "accepts: type, default, range or choices, and help.  A module\n"
         "built for another plugin ABI major is reported with both versions.\n"},
        {"predict",
         "Usage: socfw predict PIPELINE.yaml|RUN_DIR --input FILE [--output FILE]\n"
         "                     [--task NAME] [--set KEY=VALUE]... [--text-field NAME]\n"
         "\n"
         "Run the pipeline's chain (or only --task NAME) over each post of FILE\n"
         "(JSON Lines with a 'text' field; - reads standard input) and write the\n"
         "post with every stage's annotations as one JSON line: a classifier adds\n"
         "NAME.label and NAME.scores.  Output goes to standard output by default;\n"
         "a file is written atomically.  RUN_DIR is a directory `socfw run`\n"
         "wrote: its own copy of the pipeline (pipeline.resolved.yaml) and its\n"
         "best checkpoint are used, after every file is checked against\n"
         "run.json (a missing or damaged one is named); the pipeline file and\n"
         "the training data are not needed, and a warning says when the\n"
         "pipeline file changed since the run.\n"},
        {"monitor",
         "Usage: socfw monitor PIPELINE.yaml|RUN_DIR --input FILE|- [--follow]\n"
         "                     [--webhook URL] [--report OUT.html] [--state DB]\n"
         "                     [--set KEY=VALUE]... [--text-field NAME]\n"
         "\n"
         "Follow the sentiment of posts per key (a $CASHTAG, #hashtag, nlu slot\n"
         "or record field) over time windows and alert when it turns.  Each\n"
         "record {\"id\", \"timestamp\" (ISO 8601 or epoch seconds), \"text\"} goes\n"
         "through the pipeline's chain (e.g. privacy -> sentiment -> nlu), then\n"
         "the monitor counts it in its windows by post time; when a window\n"
         "closes, EWMA z-score and CUSUM detectors on the negative share and the\n"
         "volume may raise an alert: printed as one JSON line on standard output\n"
         "and delivered to the sinks of monitor.sinks (webhook, JSON Lines file,\n"
         "command).  The `monitor:` section of the pipeline sets windows,\n"
         "lateness, keys, detectors and sinks (socfw help pipeline).\n"
         "\n"
         "Windows, detector state, alerts and undelivered alerts live in an\n"
         "SQLite file (--state, monitor.state, or OUTPUT_DIR/monitor.sqlite).\n"
         "Started again with the same --input and state, the monitor continues\n"
         "after the last window it closed: no alert is sent twice and none is\n"
         "lost, even after kill -9.  The end of a finite input closes every\n"
         "window; with --follow the monitor waits for more lines (like tail -f)\n"
         "until SIGINT/SIGTERM, and keeps open windows for the next start.\n"
         "\n"
         "  --webhook URL      POST each alert as JSON (retries with backoff,\n"
         "                     Idempotency-Key header, X-Socfw-Signature when\n"
         "                     $SOCFW_WEBHOOK_SECRET is set)\n"
         "  --report OUT.html  per-key volume and sentiment shares with the\n"
         "                     alerts marked, and the alert table (without\n"
         "                     --input: from the state alone)\n"
         "  --state DB         the SQLite state file\n"},
        {"evaluate",
         "Usage: socfw evaluate PIPELINE.yaml|RUN_DIR --task NAME --input FILE\n"
         "                      [--set KEY=VALUE]...\n"
         "\n"
         "Score the trained task NAME on a labelled file (the format its\n"
         "training data has) and print the classification report.  For a\n"
         "single-label classification task the report ends with a TF-IDF +\n"
         "logistic regression baseline trained on the task's data.train and\n"
         "scored on the same file (--set evaluate.baseline=false leaves it\n"
         "out).\n"},
        {"chat",
         "Usage: socfw chat PIPELINE.yaml|RUN_DIR [--session ID] [--show-prompt]\n"
         "                  [--no-stream] [--set KEY=VALUE]... [--output-dir DIR]\n"
         "\n"
         "Talk to the pipeline's dialog stage.  Each message goes through the\n"
         "whole chain (e.g. privacy -> sentiment -> dialog -> privacy) with the\n"
         "run's best checkpoint (output.dir, runs/<name> beside the pipeline, or\n"
         "--output-dir; train it first with `socfw run`).  The conversation is\n"
         "kept in the dialog stage's sessions database: --session ID continues\n"
         "it (a new ID starts one; without --session a new ID is made and\n"
         "printed on stderr).\n"
         "\n"
         "On a terminal the reply is printed as it is generated when the dialog\n"
         "stage ends the chain (never when a stage such as privacy follows it);\n"
         "--no-stream prints it whole.\n"
         "\n"
         "On a terminal: type a message after 'you> '; /history shows the\n"
         "session, /reset clears it, /quit or Ctrl-D leaves.  From a pipe: one\n"
         "line out per line in on stdout (the reply on one line; /history as a\n"
         "JSON line {\"session\", \"turns\", \"history\"}; /reset as an empty\n"
         "line); messages and errors go to stderr; exit status 1 if any failed.\n"
         "\n"
         "  --session ID       conversation to continue or start\n"
         "  --show-prompt      print the prompt the model reads to stderr\n"
         "  --set KEY=VALUE    override a value, e.g.\n"
         "                     --set tasks.reply.temperature=0\n"
         "  --output-dir DIR   the run whose checkpoint is used\n"},
        {"tokenize",
         "Usage: socfw tokenize --model PATH [--no-special] [--no-parse-special]\n"
         "                      [--pieces] TEXT...\n"
         "\n"
         "Print the token ids of TEXT (arguments joined by single spaces; - reads\n"
         "standard input) on one line.  PATH is a .gguf file or a Hugging Face\n"
         "directory (or a file in it).  Special tokens are added as the model does\n"
         "(BOS for Llama, [CLS]/[SEP] for BERT) unless --no-special; --pieces prints\n"
         "ID<TAB>PIECE per line with control characters escaped.\n"},
        {"generate",
         "Usage: socfw generate --model PATH [--prompt TEXT] [--max-tokens N]\n"
         "       [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
         "       [--repetition-penalty R] [--seed S] [--stop STR]... [--threads N]\n"
         "       [--stats] [--adapter DIR] [--dequantize]\n"
         "\n"
         "Continue the prompt with a decoder model (GPT-2, Llama, Qwen2), streaming\n"
         "the text to standard output.  An empty prompt starts from BOS;\n"
         "temperature 0 is greedy; generation stops at N tokens (default 64), end\n"
         "of text, a stop string, the context length or Ctrl-C; --stats prints\n"
         "tokens/s and resident memory to standard error.  Quantised and\n"
         "half-precision weights stay in the file's format (memory-mapped) unless\n"
         "--dequantize (or --adapter) converts them to float32.\n"},
        {"logits",
         "Usage: socfw logits --model PATH --ids \"I1 I2 ...\" [--threads N] [-v]\n"
         "       [--adapter DIR] [--dequantize]\n"
         "\n"
         "Print the model's output for the token ids, one value per line: a\n"
         "decoder's logits for the last position, or an encoder's pooled output\n"
         "(the first token's hidden state when it has no pooler).  Ids must lie\n"
         "in [0, vocabulary size).\n"},
        {"perplexity",
         "Usage: socfw perplexity --model PATH --input FILE [--ctx N]\n"
         "                        [--stride N] [--max-tokens N]\n"
         "\n"
         "Perplexity of a decoder model over a text file (gzip read too), as\n"
         "llama.cpp computes it: windows of N tokens (default 512) every\n"
         "--stride tokens (default N), BOS first when the model adds one, the\n"
         "second half of each window scored.  Prints \"ppl P nll_per_token X\n"
         "scored K tokens T windows W ctx N stride S\".  Encoders are refused.\n"},
        {"quantize",
         "Usage: socfw quantize IN OUT --type TYPE [--force]\n"
         "\n"
         "Write the decoder model IN (a Hugging Face GPT-2/Llama/Qwen2\n"
         "directory, or a GGUF file) as the GGUF file OUT in TYPE: f32, f16,\n"
         "bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k (llama.cpp's Q4_K_M mix),\n"
         "q5_k (Q5_K_M) or q6_k, with llama.cpp's names and block layouts.\n"
         "Norms and biases stay F32, the output projection becomes Q6_K for\n"
         "block types below Q8_0, and a tensor whose rows do not divide into\n"
         "blocks falls back to a wider type with a notice.  OUT is replaced\n"
         "only with --force.\n"},
        {"serve",
         "Usage: socfw serve PIPELINE|RUN_DIR [--host ADDR] [--port N]\n"
         "                   [--workers N] [--queue N] [--timeout SECONDS]\n"
         "                   [--api-key KEY] [--access-log FILE|-]\n"
         "                   [--set KEY=VALUE]... [--text-field NAME]\n"
         "\n"
         "Answer the pipeline's chain over HTTP with JSON, using the trained\n"
         "run when there is one (as `socfw predict` does):\n"
         "\n"
         "  GET  /health       {\"status\": \"ok\", \"pipeline\": NAME, \"stages\": [...]}\n"
         "  POST /v1/predict   a record {\"text\": ..., \"session\": ...} or an array\n"
         "                     of up to 256; answers the record(s) with every\n"
         "                     stage's annotations (other fields come back as\n"
         "                     they were).  With a dialog stage: \"input\" (the\n"
         "                     text sent; privacy offsets index it) and\n"
         "                     \"output\" (the reply) instead of \"text\".\n"
         "  GET  /metrics      Prometheus text: requests by route and status,\n"
         "                     latency histograms, queue depth, tokens,\n"
         "                     batch sizes\n"
         "  GET  /             a web page: chat, classify, anonymise (works\n"
         "                     offline; installed with socfw)\n"
         "With a dialog stage in the chain, OpenAI-compatible endpoints:\n"
         "  GET  /v1/models            the dialog stage (the model name)\n"
         "  POST /v1/chat/completions  messages, temperature, top_p, max_tokens,\n"
         "                             stop, seed, stream (server-sent events\n"
         "                             ending with `data: [DONE]`)\n"
         "  POST /v1/completions       prompt, same options\n"
         "The whole chain runs as in `socfw chat`: privacy masks the input\n"
         "(earlier messages too), sentiment sets the reply's tone, a later\n"
         "privacy stage scrubs the reply (then a stream sends it once scrubbed).\n"
         "Other request fields are ignored; wrong types are refused naming the\n"
         "field, in OpenAI's {\"error\": {message, type, param, code}}.\n"
         "\n"
         "Errors elsewhere are {\"error\": ..., \"status\": N}: 400 (bad JSON or\n"
         "UTF-8, duplicate keys, a field of the wrong type), 401 (no or wrong\n"
         "bearer token), 404, 405 (with Allow), 413 (body over 1 MiB or more\n"
         "than 256 records), 422 (input a stage refuses), 503 with Retry-After\n"
         "(queue full, waited past --timeout, or stopping).\n"
         "\n"
         "--workers N   requests run at once over one copy of the weights\n"
         "              (default: 16 per core, at most 256; with a dialog\n"
         "              stage, whose chats each hold a KV cache, 16, or 4 x\n"
         "              the number of cores beyond 4);\n"
         "              concurrent classifications (and a tagger's\n"
         "              windows) are micro-batched into one forward pass,\n"
         "              also across tasks whose adapters mix (LoRA, AdaLoRA,\n"
         "              IA3, bottleneck: each on its own rows), concurrent\n"
         "              chats decoded together (one batched step per token\n"
         "              for every live generation, whatever its adapter);\n"
         "              when more calls wait than there are --threads,\n"
         "              one forward pass per thread runs at once\n"
         "--queue N     requests that may wait for a worker (default 64),\n"
         "              admitted in the order they came\n"
         "--timeout S   bound on waiting, streaming and idle connections (60)\n"
         "--api-key K   require `Authorization: Bearer K` (all but /health);\n"
         "              also SOCFW_API_KEY.  Required with a --host other than\n"
         "              127.x.\n"
         "--access-log  one JSON line per request (time, id, method, route,\n"
         "              status, ms, bytes_in; never a body or an address)\n"
         "--host defaults to 127.0.0.1, --port to 8080 (0 picks a free port; the\n"
         "address is printed on standard error).  SIGTERM/SIGINT drain (new\n"
         "requests get 503, running ones finish) and stop; SIGHUP reloads the\n"
         "tasks' adapters whose current version changed (socfw adapter\n"
         "promote/rollback, a continued run that passed its gate) once the\n"
         "requests in progress are done; none is dropped.\n"},
        {"pull",
         "Usage: socfw pull ORG/NAME [--revision REV] [--file NAME]...\n"
         "                  [--endpoint URL] [--cache-dir DIR] [--token T]\n"
         "\n"
         "Download a model repository from the Hugging Face hub (or another\n"
         "endpoint serving /ORG/NAME/resolve/REV/FILE) into the local cache\n"
         "and print the local path.  Pipelines then use it as\n"
         "`backbone: {model: hub:ORG/NAME}` (hub:ORG/NAME@REV for another\n"
         "revision); socfw downloads nothing unless this command is run.\n"
         "\n"
         "Without --file: config.json, model.safetensors (or the shards of\n"
         "model.safetensors.index.json) and the tokenizer files present.\n"
         "With --file (repeatable): exactly those files, e.g. one .gguf.\n"
         "\n"
         "  --revision REV   branch, tag or commit (default main)\n"
         "  --file NAME      a file to fetch (repeatable)\n"
         "  --endpoint URL   hub address (default $SOCFW_HUB_ENDPOINT, else\n"
         "                   https://huggingface.co)\n"
         "  --cache-dir DIR  cache root (default $SOCFW_CACHE_DIR/hub, else\n"
         "                   $XDG_CACHE_HOME/socfw/hub, else\n"
         "                   ~/.cache/socfw/hub)\n"
         "  --token T        access token for gated or private models\n"
         "                   (default $HF_TOKEN)\n"
         "\n"
         "An interrupted pull resumes when run again; files are checked\n"
         "against the SHA-256 the hub gives for large files.\n"},
        {"version", "Usage: socfw version\n\nPrint the version of socfw, "
                    "its plugin ABI and pipeline schema.\n"},
        {"help", "Usage: socfw help [COMMAND|pipeline]\n"},
};

static void
print_overview(FILE *out)
{
        fprintf(out,
                "Usage: socfw [--plugin-path DIRS] [--threads N] [-v|-q] "
                "COMMAND [ARGS]\n"
                "\n"
                "socfw builds social-media interaction systems on "
                "transformer models:\n"
                "pipelines of task plugins (sentiment, dialog, recommend, "
                "adcopy,\n"
                "privacy) over a pretrained backbone, described in YAML.\n"
                "\n"
                "Commands:\n");
        cli_list_commands(out);
        fprintf(out,
                "\n"
                "Topics:\n"
                "  pipeline     the YAML pipeline reference\n"
                "  environment  the environment variables socfw reads\n"
                "\n"
                "Global options:\n"
                "  --plugin-path DIRS  extra plugin directories "
                "(colon-separated),\n"
                "                      searched before $SOCFW_PLUGIN_PATH\n"
                "  --threads N         worker threads (0 = all cores)\n"
                "  -v, --verbose       debug logging (also SOCFW_LOG=debug)\n"
                "  -q, --quiet         warnings and errors only\n"
                "\n"
                "Exit status: 0 success, 1 failure, 2 usage error.\n"
                "See socfw(1) and the guides in doc/.\n");
}

static void
print_table(FILE *out, const socfw_param_spec *specs, const char *prefix)
{
        fprintf(out, "| key | type | default | accepts | meaning |\n");
        fprintf(out, "|---|---|---|---|---|\n");
        for (const socfw_param_spec *s = specs; s->key; s++) {
                char desc[512];
                socfw_param_describe(s, desc, sizeof desc);
                fprintf(out, "| `%s%s` | %s | %s | %s | %s |\n", prefix,
                        s->key, socfw_param_type_name(s->type),
                        (s->flags & SOCFW_PARAM_REQUIRED)
                                ? "required"
                                : (s->default_value ? s->default_value : "-"),
                        desc, s->help ? s->help : "");
        }
}

/* The pipeline reference, generated from the host's specs (doc/pipeline.md
 * holds the same text; the test suite checks they agree). */
static void
print_pipeline_reference(FILE *out)
{
        fprintf(out,
                "# Pipeline reference (schema version %d)\n"
                "\n"
                "Generated by `socfw help pipeline` from the schema socfw "
                "validates against.\n"
                "Keys are written as dotted paths: `adapter.rank` means\n"
                "`adapter: {rank: 8}`.  A task also takes the keys of its "
                "plugin, and\n"
                "its `head:` and `loss:` sections take the keys of its head: "
                "see\n"
                "`socfw inspect PLUGIN`.\n"
                "\n"
                "## Top level\n\n",
                SOCFW_PIPELINE_VERSION);
        print_table(out, socfw_pipeline_section_specs(""), "");
        fprintf(out, "\nSections: `backbone`, `tasks` (a list), `train`, "
                     "`pretrain`, `evaluate`, `privacy`, `serve`, "
                     "`output`, `monitor`.\n");
        const char *const *names = socfw_pipeline_section_names();
        for (size_t i = 0; names[i]; i++) {
                fprintf(out, "\n## %s\n\n", names[i]);
                print_table(out, socfw_pipeline_section_specs(names[i]), "");
        }
        fprintf(out, "\n## tasks (each item)\n\n");
        print_table(out, socfw_pipeline_task_specs(), "");
        fprintf(out,
                "| `head.type` | string | the plugin's default head | a head "
                "module | Output layer; its other keys are the head's. |\n"
                "| `loss.type` | enum | the head's default | the head's "
                "losses | Loss; its other keys are the head's. |\n");
        fprintf(out, "\n## privacy\n\n");
        print_table(out, socfw_pipeline_section_specs("privacy"), "");
        fprintf(out, "\nThe other keys of `privacy:` are those of its plugin "
                     "(`socfw inspect privacy`).\n");
}

int
cli_print_help(FILE *out, const char *topic)
{
        if (!topic) {
                print_overview(out);
                return 0;
        }
        if (strcmp(topic, "pipeline") == 0) {
                print_pipeline_reference(out);
                return 0;
        }
        for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
                if (strcmp(topics[i].name, topic) == 0) {
                        fputs(topics[i].text, out);
                        return 0;
                }
        return -1;
}

int
cli_cmd_help(int argc, char **argv)
{
        if (argc > 2)
                return cli_usage("help", "expected at most one topic");
        if (cli_print_help(stdout, argc == 2 ? argv[1] : NULL) < 0) {
                cli_errorf("no help on '%s'", argv[1]);
                print_overview(stderr);
                return CLI_USAGE;
        }
        return CLI_OK;
}
