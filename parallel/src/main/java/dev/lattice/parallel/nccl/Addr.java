package dev.lattice.parallel.nccl;

import org.bytedeco.javacpp.Pointer;

/** A raw address as a JavaCPP pointer argument (device or pinned host memory); owns nothing. */
final class Addr extends Pointer {

    Addr(long address) {
        this.address = address;
    }

    static Addr of(long address) {
        return new Addr(address);
    }
}
