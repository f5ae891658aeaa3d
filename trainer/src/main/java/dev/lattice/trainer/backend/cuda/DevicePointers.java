package dev.lattice.trainer.backend.cuda;

import org.bytedeco.javacpp.Pointer;

/** Raw device addresses as JavaCPP pointers (the bindings take {@code Pointer}; we keep addresses as longs). */
final class DevicePointers {

    private DevicePointers() {
    }

    /** A pointer object holding {@code address}; owns nothing (no deallocator). */
    static Pointer at(long address) {
        return new Raw(address);
    }

    private static final class Raw extends Pointer {
        Raw(long address) {
            this.address = address;
        }
    }
}
