package dev.lattice.parallel.comm;

/** A {@link CommBuffer} in a Java array (what the in-JVM communicator needs). */
public interface HostCommBuffer extends CommBuffer {

    float[] array();

    @Override
    default long size() {
        return array().length;
    }
}
