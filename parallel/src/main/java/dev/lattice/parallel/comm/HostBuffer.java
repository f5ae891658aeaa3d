package dev.lattice.parallel.comm;

/** A plain float array as a {@link CommBuffer}. */
public record HostBuffer(float[] array) implements HostCommBuffer {
}
