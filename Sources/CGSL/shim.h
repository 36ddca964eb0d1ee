// GSL's headers pull in GSL's own gsl_cblas.h, whose CBLAS enums clash with OpenBLAS's
// when both modules meet in one target. Including OpenBLAS's cblas.h first and marking
// gsl_cblas.h as already included keeps one definition; OpenBLAS supplies the symbols.
#include <cblas.h>
#define __GSL_CBLAS_H__
#include <gsl/gsl_math.h>
#include <gsl/gsl_sf_erf.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_eigen.h>
