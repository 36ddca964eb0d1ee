// libpng's simplified API (png_image_*), which needs no setjmp, and zlib for gzip files.
#include <png.h>
#include <zlib.h>
