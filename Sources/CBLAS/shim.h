// OpenBLAS's CBLAS interface and LAPACKE, the C interface to LAPACK.
#include <cblas.h>
#include <lapacke.h>
