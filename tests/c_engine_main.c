/* A standalone program on an exported C engine (tests/test_c_engine.py): segments of int8 feature codes on stdin
 * (BCRNN_CODES bytes each) -> one line per segment: the label, then the logits. */
#include <stdio.h>

#include "bcrnn.h"

int main(void) {
    static int8_t codes[BCRNN_CODES];
    int32_t logits[BCRNN_CLASSES];
    while (fread(codes, 1, sizeof codes, stdin) == sizeof codes) {
        const int label = bcrnn_segment(codes, logits);
        printf("%d", label);
        for (int c = 0; c < BCRNN_CLASSES; c++) printf(" %ld", (long)logits[c]);
        printf("\n");
    }
    return 0;
}
