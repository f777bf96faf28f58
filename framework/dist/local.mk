# dist: data-parallel training across processes over MPI (socfw/dist.h);
# one process when socfw is built without MPI or not started by mpirun.
framework_libsocfw_la_SOURCES += framework/dist/dist.c
socfwinclude_HEADERS += framework/socfw/dist.h

# benchmark: the training step of the GPT-2 124M shape split between MPI
# processes, compute vs the sum of gradients (doc/performance.md):
# mpirun -np 2 bench/bench_dist 1 5
noinst_PROGRAMS += bench/bench_dist
bench_bench_dist_SOURCES = bench/bench_dist.c bench/bench_clock.h
bench_bench_dist_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_dist_LDADD = framework/libsocfw.la
EXTRA_DIST += bench/dist_projection.py
