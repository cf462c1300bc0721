#include "types.h"

#include <stdio.h>

#include "blocks.h"

#define ENTRY(ID, NAME, BLK, SIZE, DOT, fn)                                   \
    [ID] = {NAME, BLK, SIZE, DOT, qw_dequantize_row_##fn, qw_quantize_row_##fn, \
            qw_vec_dot_##fn, qw_row_finite_##fn, NULL, qw_quantize_row_##fn}

static const qw_type_traits g_types[QW_TYPE_COUNT] = {
    ENTRY(QW_TYPE_F32, "F32", 1, 4, QW_TYPE_F32, f32),
    ENTRY(QW_TYPE_F16, "F16", 1, 2, QW_TYPE_F16, f16),
    ENTRY(QW_TYPE_BF16, "BF16", 1, 2, QW_TYPE_BF16, bf16),
    [QW_TYPE_Q4_0] = {"Q4_0", QK4_0, sizeof(block_q4_0), QW_TYPE_Q8_0, qw_dequantize_row_q4_0,
                      qw_quantize_row_q4_0, qw_vec_dot_q4_0, qw_row_finite_q4_0,
                      qw_vec_dot_q4_0_serial, qw_quantize_row_q4_0},
    ENTRY(QW_TYPE_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), QW_TYPE_Q8_1, q4_1),
    ENTRY(QW_TYPE_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), QW_TYPE_Q8_0, q5_0),
    ENTRY(QW_TYPE_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), QW_TYPE_Q8_1, q5_1),
    [QW_TYPE_Q8_0] = {"Q8_0", QK8_0, sizeof(block_q8_0), QW_TYPE_Q8_0, qw_dequantize_row_q8_0,
                      qw_quantize_row_q8_0, qw_vec_dot_q8_0, qw_row_finite_q8_0, NULL,
                      qw_quantize_act_q8_0},
    ENTRY(QW_TYPE_IQ4_NL, "IQ4_NL", QK4_NL, sizeof(block_iq4_nl), QW_TYPE_Q8_0, iq4_nl),
    ENTRY(QW_TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), QW_TYPE_Q8_K, q2_K),
    ENTRY(QW_TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), QW_TYPE_Q8_K, q3_K),
    ENTRY(QW_TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), QW_TYPE_Q8_K, q4_K),
    ENTRY(QW_TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), QW_TYPE_Q8_K, q5_K),
    ENTRY(QW_TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), QW_TYPE_Q8_K, q6_K),
    ENTRY(QW_TYPE_IQ4_XS, "IQ4_XS", QK_K, sizeof(block_iq4_xs), QW_TYPE_Q8_K, iq4_xs),
    [QW_TYPE_Q8_1] = {"Q8_1", QK8_1, sizeof(block_q8_1), QW_TYPE_Q8_1, qw_dequantize_row_q8_1,
                      qw_quantize_row_q8_1, NULL, qw_row_finite_q8_1, NULL,
                      qw_quantize_act_q8_1},
    [QW_TYPE_Q8_K] = {"Q8_K", QK_K, sizeof(block_q8_K), QW_TYPE_Q8_K, qw_dequantize_row_q8_K,
                      qw_quantize_row_q8_K, NULL, qw_row_finite_q8_K, NULL,
                      qw_quantize_row_q8_K},
};

const qw_type_traits *qw_type_get(uint32_t type) {
    if (type >= QW_TYPE_COUNT || g_types[type].name == NULL) return NULL;
    return &g_types[type];
}

const char *qw_type_name(uint32_t type) {
    static _Thread_local char buf[32];
    const qw_type_traits *t = qw_type_get(type);
    if (t) return t->name;
    snprintf(buf, sizeof buf, "type %u", (unsigned)type);
    return buf;
}

size_t qw_row_size(uint32_t type, int64_t n) {
    const qw_type_traits *t = qw_type_get(type);
    if (!t || n < 0 || n % t->blck_size != 0) return 0;
    return (size_t)(n / t->blck_size) * t->type_size;
}
