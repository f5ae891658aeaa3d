package dev.lattice.data.samples;

/** Megatron's dataset splits, in the order {@code --split} lists them; {@link #pythonName()} is the enum name Megatron writes. */
public enum Split {
    TRAIN("train"),
    VALID("valid"),
    TEST("test");

    private final String pythonName;

    Split(String pythonName) {
        this.pythonName = pythonName;
    }

    /** The name Megatron's {@code Split} enum uses ({@code train|valid|test}), as it appears in cache file names. */
    public String pythonName() {
        return pythonName;
    }
}
