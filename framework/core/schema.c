/* schema.c - the host's own pipeline schema: specs of the top-level
 * sections and of the keys every task accepts.  doc/pipeline.md is checked
 * against these tables by the test suite. */
#include <string.h>

#include "socfw/pipeline.h"

#define END {0}

static const char *const arch_choices[] = {"gpt2", "bert", "roberta",
                                           "llama", NULL};
static const char *const freeze_choices[] = {"none", "all", "embeddings",
                                             "top_layers", NULL};
static const char *const adapter_choices[] = {"none", "lora", "adalora",
                                              "ia3", "bottleneck", "prefix",
                                              "prompt", NULL};
static const char *const prompt_init_choices[] = {"random", "vocab", NULL};
static const char *const adapter_act_choices[] = {"relu", "gelu", "silu",
                                                  NULL};
static const char *const lora_targets[] = {
        "attn.q", "attn.k", "attn.v", "attn.o", "mlp.up", "mlp.down",
        "mlp.gate", "embed", NULL};
static const char *const optimizer_choices[] = {"adamw", NULL};
static const char *const schedule_choices[] = {"linear", "cosine",
                                               "constant", NULL};
static const char *const es_mode_choices[] = {"auto", "max", "min", NULL};
static const char *const bad_row_choices[] = {"error", "skip", NULL};
static const char *const objective_choices[] = {"auto", "clm", "mlm", NULL};
static const char *const tokenizer_choices[] = {"auto", "bpe", "wordpiece",
                                                NULL};
static const char *const split_choices[] = {"train", "valid", "test", NULL};
static const char *const report_choices[] = {"text", "json", "svg", NULL};
static const char *const format_choices[] = {"auto", "jsonl", "csv", "tsv",
                                             NULL};
static const char *const truncation_choices[] = {"head", "tail",
                                                   "head_tail",
                                                   "chunk_average", NULL};

/* The adapter keys, under `backbone.adapter.` (the pipeline's default,
 * with defaults) and `tasks[].adapter.` (a task's own; absent keys come
 * from the backbone's). */
#define ADAPTER_SPECS(P, TYPE, RANK, ALPHA, DROP, TARGETS, RS, RED, ACT,   \
                      TR, TI, DT, OW, PL, HELP)                          \
        {.key = P "type", .type = SOCFW_PARAM_ENUM,                      \
         .default_value = TYPE, .choices = adapter_choices,              \
         .help = HELP},                                                   \
        {.key = P "rank", .type = SOCFW_PARAM_INT, .default_value = RANK, \
         .min = 1, .max = 4096, .help = "LoRA rank r."},                  \
        {.key = P "alpha", .type = SOCFW_PARAM_FLOAT,                    \
         .default_value = ALPHA, .min = 1e-6, .max = 1e6,                 \
         .help = "LoRA scaling: the update is scaled by alpha / r (alpha "\
                 "/ sqrt(r) with use_rslora)."},                          \
        {.key = P "dropout", .type = SOCFW_PARAM_FLOAT,                  \
         .default_value = DROP, .min = 0, .max = 0.99,                    \
         .help = "LoRA: dropout on the adapter's input while training."},\
        {.key = P "targets", .type = SOCFW_PARAM_LIST,                   \
         .default_value = TARGETS, .choices = lora_targets,               \
         .help = "Named linear sites of every block that get the "        \
                 "adapter (mlp.gate: Llama only).  Absent: LoRA attn.q, " \
                 "attn.v; IA3 attn.k, attn.v, mlp.down (IA3 scales the "  \
                 "outputs of attention and mlp.up/gate sites and the "    \
                 "input of mlp.down); bottleneck mlp.down (Pfeiffer; "    \
                 "add attn.o for Houlsby).  LoRA only: embed adds a LoRA " \
                 "on the token embedding table (PEFT's "                  \
                 "lora_embedding_A/B), which full fine-tuning trains and "\
                 "the block sites never reach."},                         \
        {.key = P "use_rslora", .type = SOCFW_PARAM_BOOL,                \
         .default_value = RS,                                             \
         .help = "LoRA: rank-stabilised scaling alpha / sqrt(r)."},       \
        {.key = P "reduction_factor", .type = SOCFW_PARAM_INT,           \
         .default_value = RED, .min = 1, .max = 65536,                    \
         .help = "Bottleneck: width = hidden / reduction_factor."},       \
        {.key = P "non_linearity", .type = SOCFW_PARAM_ENUM,             \
         .default_value = ACT, .choices = adapter_act_choices,            \
         .help = "Bottleneck: activation between down and up "            \
                 "projections."},                                         \
        {.key = P "target_rank", .type = SOCFW_PARAM_INT,                \
         .default_value = TR, .min = 1, .max = 4096,                      \
         .help = "AdaLoRA: average rank per site at the end of training " \
                 "(rank is the initial one)."},                           \
        {.key = P "tinit", .type = SOCFW_PARAM_INT, .default_value = TI,  \
         .min = 0, .max = 1e12,                                           \
         .help = "AdaLoRA: steps at the full initial budget."},           \
        {.key = P "tfinal", .type = SOCFW_PARAM_INT, .default_value = TI, \
         .min = 0, .max = 1e12,                                           \
         .help = "AdaLoRA: last steps at the final budget."},             \
        {.key = P "delta_t", .type = SOCFW_PARAM_INT, .default_value = DT,\
         .min = 1, .max = 1e12,                                           \
         .help = "AdaLoRA: steps between two rank allocations."},         \
        {.key = P "orth_reg_weight", .type = SOCFW_PARAM_FLOAT,          \
         .default_value = OW, .min = 0, .max = 1e6,                       \
         .help = "AdaLoRA: weight of the orthogonality regulariser."},    \
        {.key = P "prefix_length", .type = SOCFW_PARAM_INT,              \
         .default_value = PL, .min = 1, .max = 4096,                      \
         .help = "Prefix tuning: learned key/value rows per block, in "   \
                 "front of every sequence."},                             \
        /* (RS: "false" for backbone.adapter, no default for a task) */  \
        {.key = P "prefix_projection", .type = SOCFW_PARAM_BOOL,         \
         .default_value = RS,                                             \
         .help = "Prefix tuning: train an embedding and a two-layer "     \
                 "tanh MLP that compute every block's rows (PEFT's "      \
                 "prefix_projection); the saved adapter holds the "       \
                 "computed rows."},                                       \
        {.key = P "encoder_hidden_size", .type = SOCFW_PARAM_INT,        \
         .min = 1, .max = 65536,                                          \
         .help = "Prefix tuning with prefix_projection: width of the "    \
                 "MLP's hidden layer (absent: the backbone's hidden "     \
                 "size)."},                                               \
        {.key = P "from", .type = SOCFW_PARAM_PATH,                      \
         .flags = SOCFW_PARAM_MUST_EXIST,                                 \
         .help = "Start from this adapter directory (PEFT's LoRA, "     \
                 "AdaLoRA, IA3, prefix or prompt tuning, "                \
                 "or one socfw wrote) instead of a new adapter; its own " \
                 "type and sites replace the keys above."}

/* Prompt tuning's keys, beside ADAPTER_SPECS (same prefixes). */
#define PROMPT_SPECS(P, NVT, INIT)                                        \
        {.key = P "num_virtual_tokens", .type = SOCFW_PARAM_INT,         \
         .default_value = NVT, .min = 1, .max = 4096,                     \
         .help = "Prompt tuning: learned input embeddings in front of "  \
                 "every sequence (they take positions 0..P-1; "           \
                 "P + max_seq_len must fit the backbone's positions)."},  \
        {.key = P "prompt_init", .type = SOCFW_PARAM_ENUM,               \
         .default_value = INIT, .choices = prompt_init_choices,           \
         .help = "Prompt tuning: random starts the embeddings N(0, 1) "  \
                 "(PEFT's RANDOM), vocab as rows of the token embedding " \
                 "at random ids (PEFT's SAMPLE_VOCAB)."}

static const socfw_param_spec top_specs[] = {
        {.key = "socfw", .type = SOCFW_PARAM_INT,
         .flags = SOCFW_PARAM_REQUIRED, .min = 1, .max = 1,
         .help = "Schema version of this file; this socfw reads 1."},
        {.key = "threads", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 1024,
         .help = "Worker threads (OpenBLAS and socfw's own); 0 uses every "
                 "core. --threads overrides it."},
        {.key = "chain", .type = SOCFW_PARAM_LIST,
         .help = "Stages that predict, chat and serve run on each post, in "
                 "order: 'privacy' and task names."},
        END};

static const socfw_param_spec backbone_specs[] = {
        {.key = "model", .type = SOCFW_PARAM_PATH,
         .help = "Pretrained backbone: a Hugging Face directory "
                 "(config.json + model.safetensors), a .gguf file, or "
                 "hub:ORG/NAME after `socfw pull`. Absent: a new model of "
                 "the architecture below (see pretrain:)."},
        {.key = "tokenizer", .type = SOCFW_PARAM_PATH,
         .help = "Tokenizer files when they are not beside the model "
                 "(tokenizer.json, vocab.json + merges.txt, vocab.txt)."},
        {.key = "arch", .type = SOCFW_PARAM_ENUM, .default_value = "gpt2",
         .choices = arch_choices,
         .help = "Architecture of a model built from scratch."},
        {.key = "hidden", .type = SOCFW_PARAM_INT, .default_value = "256",
         .min = 8, .max = 16384, .help = "Hidden size (from scratch)."},
        {.key = "layers", .type = SOCFW_PARAM_INT, .default_value = "4",
         .min = 1, .max = 256, .help = "Number of blocks (from scratch)."},
        {.key = "heads", .type = SOCFW_PARAM_INT, .default_value = "4",
         .min = 1, .max = 256, .help = "Attention heads (from scratch)."},
        {.key = "kv_heads", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 256,
         .help = "Key/value heads for grouped-query attention; 0 = heads."},
        {.key = "ffn", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 65536,
         .help = "Feed-forward size; 0 = 4 x hidden."},
        {.key = "vocab_size", .type = SOCFW_PARAM_INT,
         .default_value = "8000", .min = 64, .max = 1000000,
         .help = "Vocabulary size of a tokenizer trained from scratch."},
        {.key = "max_positions", .type = SOCFW_PARAM_INT,
         .default_value = "512", .min = 8, .max = 1048576,
         .help = "Longest sequence the model can read (from scratch)."},
        {.key = "max_seq_len", .type = SOCFW_PARAM_INT,
         .default_value = "128", .min = 1, .max = 1048576,
         .help = "Tokens per example; longer inputs are truncated (see "
                 "truncation)."},
        {.key = "truncation", .type = SOCFW_PARAM_ENUM,
         .default_value = "head", .choices = truncation_choices,
         .help = "What a long input becomes: its first tokens, its last, "
                 "both ends, or (chunk_average, for classification) "
                 "overlapping windows that are all learnt and whose "
                 "predictions are averaged."},
        {.key = "chunk_overlap", .type = SOCFW_PARAM_INT,
         .default_value = "32", .min = 0, .max = 65536,
         .help = "chunk_average: tokens shared by neighbouring windows."},
        {.key = "max_chunks", .type = SOCFW_PARAM_INT,
         .default_value = "16", .min = 1, .max = 4096,
         .help = "chunk_average: windows per input at most; a longer input "
                 "is covered by that many windows spread evenly over it."},
        {.key = "dropout", .type = SOCFW_PARAM_FLOAT, .default_value = "0.1",
         .min = 0, .max = 0.99,
         .help = "Dropout inside the backbone while training."},
        {.key = "freeze", .type = SOCFW_PARAM_ENUM, .default_value = "none",
         .choices = freeze_choices,
         .help = "Which backbone weights stay fixed: none, all, the "
                 "embeddings, or all but the top layers."},
        {.key = "keep_quantized", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Keep the loaded model's matrices in their file's format "
                 "(Q8_0, Q4_K, F16, ...; a GGUF or half-precision "
                 "safetensors) instead of converting them to float32: "
                 "about a quarter to an eighth of the memory.  For a "
                 "frozen backbone: adapters train over it (QLoRA)."},
        {.key = "trainable_top_layers", .type = SOCFW_PARAM_INT,
         .default_value = "2", .min = 0, .max = 256,
         .help = "With freeze: top_layers, how many blocks are trained."},
        ADAPTER_SPECS("adapter.", "none", "8", "16", "0", NULL,
                      "false", "16", "relu", "4", "0", "1", "0.5", "10",
                      "Parameter-efficient fine-tuning for every task "
                      "that trains a head (a task's own adapter: overrides "
                      "it): LoRA, AdaLoRA, IA3, bottleneck, prefix or prompt adapters "
                      "over the "
                      "frozen backbone; none trains the backbone itself "
                      "(see freeze)."),
        PROMPT_SPECS("adapter.", "20", "random"),
        END};

static const socfw_param_spec train_specs[] = {
        {.key = "optimizer", .type = SOCFW_PARAM_ENUM,
         .default_value = "adamw", .choices = optimizer_choices,
         .help = "Optimizer (AdamW with decoupled weight decay)."},
        {.key = "lr", .type = SOCFW_PARAM_FLOAT, .default_value = "5e-5",
         .min = 0, .max = 10, .help = "Peak learning rate."},
        {.key = "weight_decay", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.01", .min = 0, .max = 10,
         .help = "Decoupled weight decay (not applied to biases and norms)."},
        {.key = "beta1", .type = SOCFW_PARAM_FLOAT, .default_value = "0.9",
         .min = 0, .max = 0.999999, .help = "AdamW beta1."},
        {.key = "beta2", .type = SOCFW_PARAM_FLOAT, .default_value = "0.999",
         .min = 0, .max = 0.999999, .help = "AdamW beta2."},
        {.key = "eps", .type = SOCFW_PARAM_FLOAT, .default_value = "1e-8",
         .min = 0, .max = 1, .help = "AdamW epsilon."},
        {.key = "batch_size", .type = SOCFW_PARAM_INT,
         .default_value = "16", .min = 1, .max = 4096,
         .help = "Examples per optimizer step (before accumulation); use "
                 "grad_accum for more than 4096."},
        {.key = "grad_accum", .type = SOCFW_PARAM_INT, .default_value = "1",
         .min = 1, .max = 65536,
         .help = "Batches whose gradients are summed per step."},
        {.key = "epochs", .type = SOCFW_PARAM_INT, .default_value = "3",
         .min = 0, .max = 1000000, .help = "Passes over the training data."},
        {.key = "max_steps", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 1e12,
         .help = "Stop after this many optimizer steps; 0 = no limit."},
        {.key = "warmup", .type = SOCFW_PARAM_FLOAT, .default_value = "0.06",
         .min = 0, .max = 1e12,
         .help = "Linear warmup: a fraction of all steps when < 1, else a "
                 "number of steps."},
        {.key = "schedule", .type = SOCFW_PARAM_ENUM,
         .default_value = "linear", .choices = schedule_choices,
         .help = "Learning-rate decay after warmup."},
        {.key = "min_lr_ratio", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0", .min = 0, .max = 1,
         .help = "Cosine schedule: final learning rate as a fraction of "
                 "lr."},
        {.key = "grad_clip", .type = SOCFW_PARAM_FLOAT,
         .default_value = "1.0", .min = 0, .max = 1e9,
         .help = "Clip the global gradient norm to this; 0 = off."},
        {.key = "seed", .type = SOCFW_PARAM_INT, .default_value = "42",
         .min = 0, .max = 4294967295.0,
         .help = "Seed for initialisation, shuffling and dropout."},
        {.key = "eval_every", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 1e12,
         .help = "Validate every N steps; 0 = after each epoch."},
        {.key = "eval_before", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Also validate once before the first training step, "
                 "reported as <task>.valid.<metric>@step0 (e.g. the "
                 "perplexity before fine-tuning)."},
        {.key = "log_every", .type = SOCFW_PARAM_INT, .default_value = "50",
         .min = 1, .max = 1e12, .help = "Log a line every N steps."},
        {.key = "early_stopping.metric", .type = SOCFW_PARAM_STRING,
         .help = "Metric to watch, as task.split.name "
                 "(sentiment.valid.macro_f1) or task.valid.loss."},
        {.key = "early_stopping.patience", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 1000000,
         .help = "Evaluations without improvement before stopping; 0 = "
                 "never stop early."},
        {.key = "early_stopping.mode", .type = SOCFW_PARAM_ENUM,
         .default_value = "auto", .choices = es_mode_choices,
         .help = "Whether larger is better (max), smaller (min), or as the "
                 "metric says (auto)."},
        {.key = "early_stopping.min_delta", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0", .min = 0, .max = 1e9,
         .help = "Smallest change that counts as an improvement."},
        {.key = "checkpoint_every", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 1e12,
         .help = "Also write a resumable checkpoint every N steps; 0 = at "
                 "each evaluation only."},
        {.key = "keep_best", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Keep the checkpoint with the best watched metric."},
        {.key = "dist_timeout", .type = SOCFW_PARAM_FLOAT,
         .default_value = "300", .min = 0, .max = 1e9,
         .help = "Data-parallel jobs (mpirun -np N socfw run): seconds a "
                 "process waits for the others at a step before the job "
                 "stops, naming the process that did not answer; 0 = wait "
                 "for ever."},
        {.key = "on_bad_row", .type = SOCFW_PARAM_ENUM,
         .default_value = "error", .choices = bad_row_choices,
         .help = "A malformed data row stops the run (error) or is skipped "
                 "and counted (skip)."},
        END};

static const socfw_param_spec pretrain_specs[] = {
        {.key = "objective", .type = SOCFW_PARAM_ENUM,
         .default_value = "auto", .choices = objective_choices,
         .help = "Causal LM (decoders) or masked LM (encoders); auto picks "
                 "by architecture."},
        {.key = "corpus", .type = SOCFW_PARAM_LIST,
         .help = "Plain-text files, one document per line; gzip-compressed "
                 "when the name ends in .gz."},
        {.key = "valid", .type = SOCFW_PARAM_LIST,
         .help = "Held-out text files (plain or .gz): a causal LM's "
                 "perplexity on them is logged at eval_every steps and at "
                 "the end of each sitting, and appended to "
                 "OUTPUT/pretrain.jsonl with the hours of pretraining."},
        {.key = "valid_tokens", .type = SOCFW_PARAM_INT,
         .default_value = "100000", .min = 16, .max = 1e9,
         .help = "Score at most this many held-out tokens."},
        {.key = "eval_every", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 1e12,
         .help = "Score pretrain.valid every this many steps (0 = at the "
                 "end of each sitting only)."},
        {.key = "max_corpus_mb", .type = SOCFW_PARAM_INT,
         .default_value = "256", .min = 1, .max = 65536,
         .help = "Read at most this many MiB of corpus text (the rest of "
                 "the files is left out, with a notice)."},
        {.key = "steps", .type = SOCFW_PARAM_INT, .default_value = "1000",
         .min = 0, .max = 1e12, .help = "Optimizer steps."},
        {.key = "batch_size", .type = SOCFW_PARAM_INT,
         .default_value = "32", .min = 1, .max = 65536,
         .help = "Sequences per step."},
        {.key = "seq_len", .type = SOCFW_PARAM_INT, .default_value = "128",
         .min = 2, .max = 1048576, .help = "Tokens per sequence."},
        {.key = "lr", .type = SOCFW_PARAM_FLOAT, .default_value = "1e-3",
         .min = 0, .max = 10, .help = "Peak learning rate."},
        {.key = "warmup", .type = SOCFW_PARAM_FLOAT, .default_value = "0.02",
         .min = 0, .max = 1e12, .help = "Warmup (fraction or steps)."},
        {.key = "max_minutes", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0", .min = 0, .max = 1e9,
         .help = "Wall-time budget: fewer steps when they would not fit "
                 "(the schedule is shortened to match); with chunked, the "
                 "length of one chunk instead; 0 = no limit."},
        {.key = "chunked", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Pretrain in chunks of max_minutes: the schedule stays "
                 "over all steps, a chunk stops at the budget with its "
                 "state saved (OUTPUT/pretrain.state.safetensors) and the "
                 "backbone so far, and `socfw run --resume` continues."},
        {.key = "checkpoint_every", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 1e12,
         .help = "Save the resumable pretraining state every this many "
                 "steps (0 = only when a chunk ends)."},
        {.key = "mask_prob", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.15", .min = 0, .max = 1,
         .help = "Masked LM: share of tokens to predict (80% become the "
                 "mask token, 10% a random token, 10% stay)."},
        {.key = "whole_word_mask", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Masked LM: mask all pieces of a word together."},
        {.key = "tokenizer.type", .type = SOCFW_PARAM_ENUM,
         .default_value = "auto", .choices = tokenizer_choices,
         .help = "Vocabulary to train when the backbone has none: auto is "
                 "WordPiece for bert, byte-level BPE otherwise."},
        {.key = "tokenizer.vocab_size", .type = SOCFW_PARAM_INT,
         .default_value = "8000", .min = 64, .max = 1000000,
         .help = "Size of the trained vocabulary."},
        {.key = "reuse", .type = SOCFW_PARAM_BOOL, .default_value = "true",
         .help = "Reuse a pretrained backbone already in the output "
                 "directory instead of training it again."},
        END};

static const socfw_param_spec evaluate_specs[] = {
        {.key = "splits", .type = SOCFW_PARAM_LIST,
         .default_value = "valid,test", .choices = split_choices,
         .help = "Splits evaluated after training."},
        {.key = "report", .type = SOCFW_PARAM_LIST,
         .default_value = "text,json,svg", .choices = report_choices,
         .help = "Report formats written to the output directory."},
        {.key = "batch_size", .type = SOCFW_PARAM_INT,
         .default_value = "64", .min = 1, .max = 65536,
         .help = "Examples per forward pass."},
        {.key = "baseline", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Single-label classification tasks: also train a TF-IDF + "
                 "logistic regression baseline on the same training data "
                 "and report it next to the model "
                 "(<task>.<split>.baseline.macro_f1 ...)."},
        END};

static const socfw_param_spec serve_specs[] = {
        {.key = "host", .type = SOCFW_PARAM_STRING,
         .default_value = "127.0.0.1", .help = "Address to listen on."},
        {.key = "port", .type = SOCFW_PARAM_INT, .default_value = "8080",
         .min = 0, .max = 65535, .help = "TCP port (0 picks a free one)."},
        {.key = "max_body", .type = SOCFW_PARAM_INT,
         .default_value = "1048576", .min = 1, .max = 1073741824,
         .help = "Largest request body in bytes."},
        END};

static const socfw_param_spec output_specs[] = {
        {.key = "dir", .type = SOCFW_PARAM_PATH,
         .help = "Where checkpoints, reports and predictions go; default "
                 "runs/<pipeline file name>."},
        {.key = "input", .type = SOCFW_PARAM_PATH,
         .help = "Posts (JSON Lines, field 'text') that `socfw run` passes "
                 "through the chain after training."},
        {.key = "predictions", .type = SOCFW_PARAM_STRING,
         .default_value = "predictions.jsonl",
         .help = "File name, inside dir, for the chain's output."},
        END};

static const char *const window_choices[] = {"tumbling", "sliding", NULL};
static const char *const ts_policy_choices[] = {"arrival", "skip", "error",
                                                NULL};
static const char *const key_source_choices[] = {"field", "hashtags",
                                                 "cashtags", "nlu", "all",
                                                 NULL};
static const char *const metric_choices[] = {"negative_share", "volume",
                                             NULL};
static const char *const detector_choices[] = {"ewma", "cusum", NULL};
static const char *const sync_choices[] = {"full", "normal", NULL};

/* `socfw monitor` (framework/monitor, socfw/monitor.h); the monitor reads
 * its defaults from this table. */
static const socfw_param_spec monitor_specs[] = {
        {.key = "window.type", .type = SOCFW_PARAM_ENUM,
         .default_value = "tumbling", .choices = window_choices,
         .help = "Tumbling windows (back to back) or sliding ones (size "
                 "long, starting every step)."},
        {.key = "window.size", .type = SOCFW_PARAM_FLOAT,
         .default_value = "3600", .min = 1, .max = 31536000,
         .help = "Window length in seconds of post time."},
        {.key = "window.step", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0", .min = 0, .max = 31536000,
         .help = "Sliding windows: seconds between window starts (0 = "
                 "size)."},
        {.key = "window.lateness", .type = SOCFW_PARAM_FLOAT,
         .default_value = "300", .min = 0, .max = 31536000,
         .help = "How far behind the latest post time a post may arrive "
                 "and still be counted; older posts are counted as late and "
                 "dropped. A window closes once it ends this long before "
                 "the latest post."},
        {.key = "timestamp.field", .type = SOCFW_PARAM_STRING,
         .default_value = "timestamp",
         .help = "Record field with the post time: ISO 8601 or epoch "
                 "seconds."},
        {.key = "timestamp.policy", .type = SOCFW_PARAM_ENUM,
         .default_value = "arrival", .choices = ts_policy_choices,
         .help = "A missing or unparsable timestamp: use the arrival time, "
                 "skip the post (counted), or stop with file:line."},
        {.key = "id_field", .type = SOCFW_PARAM_STRING,
         .default_value = "id",
         .help = "Record field with the post id (alerts list sample ids); "
                 "absent: FILE:LINE."},
        {.key = "text_field", .type = SOCFW_PARAM_STRING,
         .default_value = "text",
         .help = "Record field with the text (hashtags and cashtags are "
                 "read from it)."},
        {.key = "sentiment.field", .type = SOCFW_PARAM_STRING,
         .help = "Record field (dotted path) holding the sentiment label, "
                 "e.g. a label already in the data; absent: the label of "
                 "sentiment.task."},
        {.key = "sentiment.task", .type = SOCFW_PARAM_STRING,
         .default_value = "sentiment",
         .help = "Chain stage whose TASK.label is the post's sentiment."},
        {.key = "sentiment.negative", .type = SOCFW_PARAM_LIST,
         .default_value = "negative",
         .help = "Labels counted as negative."},
        {.key = "sentiment.positive", .type = SOCFW_PARAM_LIST,
         .default_value = "positive",
         .help = "Labels counted as positive; any other label is "
                 "neutral."},
        {.key = "keys.from", .type = SOCFW_PARAM_LIST,
         .default_value = "cashtags", .choices = key_source_choices,
         .help = "Where a post's keys come from: a record field, "
                 "#hashtags or $CASHTAGS found in the text, slots of the "
                 "nlu stage, or one key '*' for all posts. Several sources "
                 "are merged."},
        {.key = "keys.field", .type = SOCFW_PARAM_STRING,
         .default_value = "key",
         .help = "keys.from field: the field (a string or a list of "
                 "strings)."},
        {.key = "keys.nlu_field", .type = SOCFW_PARAM_STRING,
         .default_value = "nlu.slots",
         .help = "keys.from nlu: the list of {type, text} slots."},
        {.key = "keys.nlu_types", .type = SOCFW_PARAM_LIST,
         .default_value = "TICKER,CASHTAG,ORG",
         .help = "keys.from nlu: slot types that are keys (TICKER and "
                 "CASHTAG are written upper-case without '$', so they "
                 "match cashtags)."},
        {.key = "keys.max_keys", .type = SOCFW_PARAM_INT,
         .default_value = "10000", .min = 1, .max = 10000000,
         .help = "Keys followed at most; posts of further keys are counted "
                 "and ignored."},
        {.key = "keys.max_per_post", .type = SOCFW_PARAM_INT,
         .default_value = "5", .min = 1, .max = 16,
         .help = "Keys taken from one post at most."},
        {.key = "detect.metrics", .type = SOCFW_PARAM_LIST,
         .default_value = "negative_share,volume", .choices = metric_choices,
         .help = "What the detectors watch per key and window."},
        {.key = "detect.detectors", .type = SOCFW_PARAM_LIST,
         .default_value = "ewma,cusum", .choices = detector_choices,
         .help = "EWMA z-score and/or CUSUM."},
        {.key = "detect.warmup", .type = SOCFW_PARAM_INT,
         .default_value = "8", .min = 0, .max = 1000000,
         .help = "Windows a metric is measured in before it may alert."},
        {.key = "detect.min_volume", .type = SOCFW_PARAM_INT,
         .default_value = "10", .min = 1, .max = 1000000000,
         .help = "Posts a window needs before its negative share is "
                 "measured."},
        {.key = "detect.alpha", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.1", .min = 0.0001, .max = 1,
         .help = "EWMA weight of the newest window in the baseline mean "
                 "and variance."},
        {.key = "detect.z_threshold", .type = SOCFW_PARAM_FLOAT,
         .default_value = "4", .min = 0, .max = 1000,
         .help = "EWMA: alert when (value - mean) / sd reaches this."},
        {.key = "detect.min_sd_share", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.05", .min = 0, .max = 1,
         .help = "Floor of the negative share's standard deviation (a "
                 "steady series does not make every wiggle an alert)."},
        {.key = "detect.min_sd_volume", .type = SOCFW_PARAM_FLOAT,
         .default_value = "1", .min = 0, .max = 1e9,
         .help = "Floor of the volume's standard deviation (also at least "
                 "the square root of the mean, as for Poisson counts)."},
        {.key = "detect.cusum_k", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.5", .min = 0, .max = 100,
         .help = "CUSUM: allowance subtracted from each z-score."},
        {.key = "detect.cusum_h", .type = SOCFW_PARAM_FLOAT,
         .default_value = "5", .min = 0, .max = 1000,
         .help = "CUSUM: alert when the sum reaches this (then it "
                 "restarts)."},
        {.key = "alerts.cooldown", .type = SOCFW_PARAM_FLOAT,
         .default_value = "3600", .min = 0, .max = 31536000,
         .help = "Seconds of post time after an alert's window during "
                 "which the same key raises no alert."},
        {.key = "alerts.sample_ids", .type = SOCFW_PARAM_INT,
         .default_value = "5", .min = 0, .max = 10,
         .help = "Post ids an alert carries as evidence."},
        {.key = "sinks.webhook.url", .type = SOCFW_PARAM_STRING,
         .help = "POST each alert here as JSON (--webhook overrides)."},
        {.key = "sinks.webhook.secret_env", .type = SOCFW_PARAM_STRING,
         .default_value = "SOCFW_WEBHOOK_SECRET",
         .help = "Environment variable holding the HMAC-SHA256 secret; when "
                 "set, X-Socfw-Signature: sha256=HEX signs the body."},
        {.key = "sinks.webhook.timeout", .type = SOCFW_PARAM_FLOAT,
         .default_value = "10", .min = 0.01, .max = 3600,
         .help = "Seconds per attempt."},
        {.key = "sinks.webhook.retries", .type = SOCFW_PARAM_INT,
         .default_value = "4", .min = 0, .max = 100,
         .help = "Further attempts after a failure (connection error, 429, "
                 "5xx); the file and command sinks use it too."},
        {.key = "sinks.webhook.backoff", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.5", .min = 0, .max = 3600,
         .help = "First wait in seconds, doubled per attempt, with random "
                 "jitter."},
        {.key = "sinks.webhook.max_backoff", .type = SOCFW_PARAM_FLOAT,
         .default_value = "30", .min = 0, .max = 86400,
         .help = "Longest wait between attempts (also caps Retry-After)."},
        {.key = "sinks.jsonl", .type = SOCFW_PARAM_PATH,
         .help = "Append each alert as one JSON line to this file."},
        {.key = "sinks.command", .type = SOCFW_PARAM_STRING,
         .help = "Run this shell command per alert with the alert JSON on "
                 "its standard input (and SOCFW_ALERT_ID set); exit status "
                 "0 means delivered."},
        {.key = "sinks.command_timeout", .type = SOCFW_PARAM_FLOAT,
         .default_value = "30", .min = 0.01, .max = 86400,
         .help = "Seconds the command may run."},
        {.key = "state", .type = SOCFW_PARAM_PATH,
         .help = "SQLite state file; default OUTPUT_DIR/monitor.sqlite "
                 "(--state overrides)."},
        {.key = "state_sync", .type = SOCFW_PARAM_ENUM,
         .default_value = "full", .choices = sync_choices,
         .help = "full: each window close survives a power cut; normal: "
                 "faster, survives a killed process."},
        {.key = "on_bad_record", .type = SOCFW_PARAM_ENUM,
         .default_value = "error", .choices = bad_row_choices,
         .help = "A line that is not a JSON object with a text stops the "
                 "monitor with file:line (error) or is counted and skipped "
                 "(skip)."},
        {.key = "report.max_keys", .type = SOCFW_PARAM_INT,
         .default_value = "12", .min = 1, .max = 10000,
         .help = "Keys charted in --report (those with alerts first, then "
                 "the busiest)."},
        END};

/* Keys of the privacy stage besides its plugin's. */
/* continual re-fine-tuning: `socfw run PIPELINE --continue RUN --data
 * NEW.jsonl` (framework/train/continual.c) */
static const socfw_param_spec continual_specs[] = {
        {.key = "task", .type = SOCFW_PARAM_STRING,
         .help = "Task whose adapter continues (--task); default the only "
                 "task with an adapter."},
        {.key = "data", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Newly labelled data (JSON Lines) to continue on "
                 "(--data)."},
        {.key = "replay", .type = SOCFW_PARAM_FLOAT, .default_value = "1.0",
         .min = 0, .max = 1000,
         .help = "Examples of the task's old training data (data.train) "
                 "mixed in per new training example; 0: none."},
        {.key = "holdout", .type = SOCFW_PARAM_FLOAT, .default_value = "0.2",
         .min = 0.01, .max = 0.9,
         .help = "Share of the new data held out: not trained on, the "
                 "gate's second test."},
        {.key = "gate", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Fixed gate set the new version must not do worse on; "
                 "default the task's data.valid.  Refused when it shares "
                 "a text with the new data."},
        {.key = "metric", .type = SOCFW_PARAM_STRING,
         .help = "Metric the gate compares (higher is better); default the "
                 "task's early-stopping metric, else macro_f1."},
        {.key = "tolerance", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.01", .min = 0, .max = 1,
         .help = "Largest drop of the metric on the gate set that still "
                 "promotes."},
        {.key = "min_gain", .type = SOCFW_PARAM_FLOAT, .default_value = "0",
         .min = 0, .max = 1,
         .help = "Gain on the held-out part the new version must exceed."},
        {.key = "l2_sp", .type = SOCFW_PARAM_FLOAT, .default_value = "0",
         .min = 0, .max = 1e6,
         .help = "L2-SP: strength of the pull toward the weights the "
                 "adapter and head start from (0: off)."},
        {.key = "seed", .type = SOCFW_PARAM_INT, .default_value = "-1",
         .min = -1, .max = 9.2e18,
         .help = "Seed of the held-out part and the replay sample; -1: "
                 "train.seed."},
        END};

static const socfw_param_spec privacy_host_specs[] = {
        {.key = "plugin", .type = SOCFW_PARAM_STRING,
         .default_value = "privacy",
         .help = "Plugin implementing the privacy stage."},
        {.key = "training_data", .type = SOCFW_PARAM_BOOL,
         .default_value = "true",
         .help = "Anonymise every training, validation and test text with "
                 "this stage before anything learns from it."},
        END};

static const socfw_param_spec task_specs[] = {
        {.key = "name", .type = SOCFW_PARAM_STRING,
         .flags = SOCFW_PARAM_REQUIRED,
         .help = "Name of the task: used in the chain, in metric names "
                 "and in output files."},
        {.key = "plugin", .type = SOCFW_PARAM_STRING,
         .flags = SOCFW_PARAM_REQUIRED,
         .help = "Task plugin (see `socfw inspect`)."},
        {.key = "weight", .type = SOCFW_PARAM_FLOAT, .default_value = "1.0",
         .min = 0, .max = 1e6,
         .help = "Weight of this task's loss in multi-task training."},
        {.key = "labels", .type = SOCFW_PARAM_LIST,
         .help = "Class names in order; inferred from the training data "
                 "when absent."},
        ADAPTER_SPECS("adapter.", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                      NULL, NULL, NULL, NULL, NULL, NULL,
                      "This task's own adapter over the frozen, shared "
                      "backbone; each key absent here comes from "
                      "backbone.adapter."),
        PROMPT_SPECS("adapter.", NULL, NULL),
        {.key = "data.train", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST, .help = "Training data."},
        {.key = "data.valid", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Validation data (model selection, early stopping)."},
        {.key = "data.test", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST, .help = "Test data (final report)."},
        {.key = "data.format", .type = SOCFW_PARAM_ENUM,
         .default_value = "auto", .choices = format_choices,
         .help = "File format; auto goes by the extension."},
        {.key = "data.text_field", .type = SOCFW_PARAM_STRING,
         .default_value = "text", .help = "Field holding the input text."},
        {.key = "data.label_field", .type = SOCFW_PARAM_STRING,
         .default_value = "label", .help = "Field holding the gold label."},
        {.key = "data.max_rows", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 1e12,
         .help = "Read at most this many rows per split; 0 = all."},
        END};

static const char *const section_names[] = {"backbone", "train", "pretrain",
                                             "evaluate", "serve", "output",
                                             "monitor", "continual", NULL};

const socfw_param_spec *
socfw_pipeline_section_specs(const char *section)
{
        static const struct {
                const char *name;
                const socfw_param_spec *specs;
        } map[] = {
                {"", top_specs},
                {"backbone", backbone_specs},
                {"train", train_specs},
                {"pretrain", pretrain_specs},
                {"evaluate", evaluate_specs},
                {"serve", serve_specs},
                {"output", output_specs},
                {"monitor", monitor_specs},
                {"continual", continual_specs},
                {"privacy", privacy_host_specs},
        };
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                if (strcmp(map[i].name, section) == 0)
                        return map[i].specs;
        return NULL;
}

const char *const *
socfw_pipeline_section_names(void)
{
        return section_names;
}

const socfw_param_spec *
socfw_pipeline_task_specs(void)
{
        return task_specs;
}
