#ifndef AUTODIDACT_CMPI_SHIM_H
#define AUTODIDACT_CMPI_SHIM_H
#include <mpi.h>

// Open MPI's predefined handles are macros that cast addresses of global objects; Swift cannot import
// them, so they are exposed through these accessors.
static inline MPI_Comm autodidact_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype autodidact_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype autodidact_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype autodidact_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype autodidact_int64(void) { return MPI_INT64_T; }
static inline MPI_Op autodidact_op_sum(void) { return MPI_SUM; }
static inline MPI_Op autodidact_op_max(void) { return MPI_MAX; }
static inline MPI_Op autodidact_op_min(void) { return MPI_MIN; }
static inline void *autodidact_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler autodidact_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int autodidact_any_source(void) { return MPI_ANY_SOURCE; }
static inline int autodidact_any_tag(void) { return MPI_ANY_TAG; }
static inline MPI_Status *autodidact_status_ignore(void) { return MPI_STATUS_IGNORE; }
#endif
