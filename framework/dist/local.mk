# dist: data-parallel training across processes over MPI (socfw/dist.h);
# one process when socfw is built without MPI or not started by mpirun.
framework_libsocfw_la_SOURCES += framework/dist/dist.c
socfwinclude_HEADERS += framework/socfw/dist.h
