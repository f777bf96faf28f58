# io (see framework/socfw/ for its public header)
