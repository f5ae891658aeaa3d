package dev.lattice.data.indexed;

/**
 * The element types of Megatron's indexed dataset, with the codes stored in byte 17 of the {@code .idx}
 * (megatron-formats.md §1.3, Megatron-Core numbering). Token files only use {@link #UINT16} and {@link #INT32}.
 */
public enum TokenDType {
    UINT8(1, 1, 0, 255),
    INT8(2, 1, -128, 127),
    INT16(3, 2, Short.MIN_VALUE, Short.MAX_VALUE),
    INT32(4, 4, Integer.MIN_VALUE, Integer.MAX_VALUE),
    INT64(5, 8, Long.MIN_VALUE, Long.MAX_VALUE),
    FLOAT64(6, 8, Long.MIN_VALUE, Long.MAX_VALUE),
    FLOAT32(7, 4, Long.MIN_VALUE, Long.MAX_VALUE),
    UINT16(8, 2, 0, 65535);

    /** Megatron's threshold: vocabularies below it fit uint16 (preprocess_data.py's {@code optimal_dtype}). */
    public static final int UINT16_VOCAB_LIMIT = 65500;

    private final int code;
    private final int itemSize;
    private final long min;
    private final long max;

    TokenDType(int code, int itemSize, long min, long max) {
        this.code = code;
        this.itemSize = itemSize;
        this.min = min;
        this.max = max;
    }

    public int code() {
        return code;
    }

    public int itemSize() {
        return itemSize;
    }

    /** Whether token ids of this type can be read back as integers (floats are not token types). */
    public boolean isInteger() {
        return this != FLOAT32 && this != FLOAT64;
    }

    /** Whether {@code id} is representable in this type. */
    public boolean holds(long id) {
        return id >= min && id <= max;
    }

    /** The dtype Megatron's preprocessing picks for a vocabulary: uint16 below 65500, else int32. */
    public static TokenDType optimalFor(int vocabSize) {
        return vocabSize < UINT16_VOCAB_LIMIT ? UINT16 : INT32;
    }

    /** The type with {@code code}, or null if the code is unknown. */
    public static TokenDType forCode(int code) {
        for (TokenDType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        return null;
    }
}
