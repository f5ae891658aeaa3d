package dev.lattice.trainer.io;

import java.util.Locale;

/** Element types of the safetensors format, by their header names, with their sizes in bytes. */
public enum DType {
    BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1),
    I16(2), U16(2), F16(2), BF16(2),
    I32(4), U32(4), F32(4),
    I64(8), U64(8), F64(8);

    private final int itemSize;

    DType(int itemSize) {
        this.itemSize = itemSize;
    }

    /** Bytes per element. */
    public int itemSize() {
        return itemSize;
    }

    /** Whether {@link Safetensors#readFloats} can convert this type (floating point or integer; not FP8). */
    public boolean readableAsFloat() {
        return this != F8_E5M2 && this != F8_E4M3;
    }

    /** Whether this is an integer (or boolean) type. */
    public boolean isInteger() {
        return switch (this) {
            case BOOL, U8, I8, I16, U16, I32, U32, I64, U64 -> true;
            default -> false;
        };
    }

    /** The name used in the safetensors header, e.g. {@code "BF16"}. */
    public String headerName() {
        return name();
    }

    /** Parses a header dtype name (exact, upper case as the format writes it); null if unknown. */
    public static DType fromHeaderName(String s) {
        if (s == null) {
            return null;
        }
        for (DType t : values()) {
            if (t.name().equals(s)) {
                return t;
            }
        }
        return null;
    }

    /** The matching {@code torch_dtype} string for config.json (float types only). */
    public String torchName() {
        return switch (this) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            case F64 -> "float64";
            default -> name().toLowerCase(Locale.ROOT);
        };
    }
}
