package dev.lattice.parallel.nccl;

import dev.lattice.parallel.comm.CommBuffer;
import dev.lattice.parallel.comm.DeviceCommBuffer;
import dev.lattice.parallel.comm.HostCommBuffer;
import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.cuda.cudart.CUstream_st;

import java.util.ArrayList;
import java.util.List;

import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.nccl.ncclBfloat16;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;

/**
 * The operands of one operation and where NCCL finds them: device buffers in place; host arrays, and device
 * ranges that must not alias another operand, in the communicator's scratch, copied in before and out after the
 * operation on the communication stream.
 */
final class Staging {

    private static final long ALIGN = 256;

    /** One operand: {@code count} elements (fp32, or bf16 for a bf16-stored device tensor) from element {@code off}. */
    static final class Operand {
        final CommBuffer buffer; // null: scratch only (barrier)
        final long off;
        final long count;
        final boolean in;
        final boolean out;
        final int elementBytes;
        private boolean staged;
        private long at = -1;
        private long address;

        private Operand(CommBuffer buffer, long off, long count, boolean in, boolean out) {
            this.buffer = buffer;
            this.elementBytes = buffer instanceof DeviceCommBuffer d ? d.elementBytes() : 4;
            this.off = off;
            this.count = count;
            this.in = in;
            this.out = out;
        }

        /** The device address NCCL uses (valid after {@link Staging#copyIn}). */
        long address() {
            if (staged && at < 0) {
                throw new IllegalStateException("operand not placed in scratch yet");
            }
            return address;
        }

        boolean staged() {
            return staged;
        }

        long bytes() {
            return (long) elementBytes * count;
        }
    }

    private final String what;
    private final int device;
    private final List<Operand> operands = new ArrayList<>();

    /**
     * @param what the operation and group, for errors
     * @param device the communicator's CUDA device, which device buffers must be on
     */
    Staging(String what, int device) {
        this.what = what;
        this.device = device;
    }

    /** Adds {@code buffer[off, off+count)}; {@code in}: the operation reads it, {@code out}: writes it. */
    Operand add(CommBuffer buffer, long off, long count, boolean in, boolean out) {
        if (buffer == null) {
            throw new IllegalArgumentException(what + ": null buffer");
        }
        if (off < 0 || count < 0 || off + count > buffer.size()) {
            throw new IllegalArgumentException(what + ": range [" + off + ", " + (off + count)
                    + ") outside a buffer of " + buffer.size() + " floats");
        }
        Operand o = new Operand(buffer, off, count, in, out);
        if (buffer instanceof DeviceCommBuffer d) {
            if (d.device() != device) {
                throw new IllegalArgumentException(what + ": buffer on device " + d.device()
                        + " but the communicator uses device " + device);
            }
            if (d.elementBytes() != 4 && d.elementBytes() != 2) {
                throw new IllegalArgumentException(what + ": elements of " + d.elementBytes()
                        + " bytes; NCCL moves fp32 (4) or bf16 (2)");
            }
            o.address = d.devicePointer() + (long) d.elementBytes() * off;
        } else if (buffer instanceof HostCommBuffer) {
            o.staged = true;
        } else {
            throw new IllegalArgumentException(what + ": NCCL needs a DeviceCommBuffer or a HostCommBuffer, got "
                    + buffer.getClass().getName());
        }
        operands.add(o);
        return o;
    }

    /**
     * NCCL's element type for this operation: bf16 when the device operands are bf16-stored, else fp32. Every operand
     * must agree (NCCL converts nothing; host arrays are fp32).
     */
    int dataType() {
        Operand first = null;
        for (Operand o : operands) {
            if (o.buffer == null) {
                continue;
            }
            if (first == null) {
                first = o;
            } else if (o.elementBytes != first.elementBytes) {
                throw new IllegalArgumentException(what + ": operands of different element types ("
                        + kind(first) + " and " + kind(o) + "); NCCL converts nothing");
            }
        }
        return first != null && first.elementBytes == 2 ? ncclBfloat16 : ncclFloat32;
    }

    /** Bytes per element of this operation's operands (see {@link #dataType()}). */
    int elementBytes() {
        return dataType() == ncclBfloat16 ? 2 : 4;
    }

    private static String kind(Operand o) {
        return (o.elementBytes == 2 ? "bf16 " : "fp32 ") + (o.buffer instanceof HostCommBuffer ? "host" : "device");
    }

    /** Room for {@code count} floats in scratch that nobody reads back (the barrier's token). */
    Operand scratchOnly(long count) {
        Operand o = new Operand(null, 0, count, false, false);
        o.staged = true;
        operands.add(o);
        return o;
    }

    /** Copies a device operand to scratch first (it overlaps another operand NCCL writes). */
    void stage(Operand o) {
        o.staged = true;
    }

    /** Whether any operand goes through scratch (a host array, or a device range that aliases another operand). */
    boolean anyStaged() {
        for (Operand o : operands) {
            if (o.staged) {
                return true;
            }
        }
        return false;
    }

    boolean anyHost() {
        for (Operand o : operands) {
            if (o.buffer instanceof HostCommBuffer) {
                return true;
            }
        }
        return false;
    }

    /** Whether two device operands' byte ranges overlap. */
    static boolean overlap(Operand a, Operand b) {
        return a.address < b.address + b.bytes() && b.address < a.address + a.bytes();
    }

    /** Places staged operands in scratch and enqueues the copies of inputs into it on {@code stream}. */
    void copyIn(Scratch scratch, CUstream_st stream) {
        long need = 0;
        for (Operand o : operands) {
            if (o.staged) {
                o.at = need;
                need += (o.bytes() + ALIGN - 1) / ALIGN * ALIGN;
            }
        }
        if (need == 0) {
            return;
        }
        scratch.ensure(need);
        for (Operand o : operands) {
            if (!o.staged) {
                continue;
            }
            long source = o.address; // a device operand's own range, when staged for overlap
            o.address = scratch.device(o.at);
            if (!o.in || o.count == 0) {
                continue;
            }
            if (o.buffer instanceof HostCommBuffer h) {
                scratch.toPinned(h.array(), Math.toIntExact(o.off), Math.toIntExact(o.count), o.at);
                Cuda.check(cudaMemcpyAsync(Addr.of(o.address), Addr.of(scratch.host(o.at)), o.bytes(),
                        cudaMemcpyHostToDevice, stream), "copy of a host operand to the device for " + what);
            } else {
                Cuda.check(cudaMemcpyAsync(Addr.of(o.address), Addr.of(source), o.bytes(),
                        cudaMemcpyDeviceToDevice, stream), "copy of an overlapping operand to scratch for " + what);
            }
        }
    }

    /** Enqueues the copies of host outputs from scratch to the pinned mirror on {@code stream}. */
    void copyOut(Scratch scratch, CUstream_st stream) {
        for (Operand o : operands) {
            if (o.staged && o.out && o.count > 0 && o.buffer instanceof HostCommBuffer) {
                Cuda.check(cudaMemcpyAsync(Addr.of(scratch.host(o.at)), Addr.of(o.address), o.bytes(),
                        cudaMemcpyDeviceToHost, stream), "copy of a host operand back from the device for " + what);
            }
        }
    }

    /** After completion: host outputs from the pinned mirror into their arrays. */
    void finish(Scratch scratch) {
        for (Operand o : operands) {
            if (o.staged && o.out && o.count > 0 && o.buffer instanceof HostCommBuffer h) {
                scratch.fromPinned(h.array(), Math.toIntExact(o.off), Math.toIntExact(o.count), o.at);
            }
        }
    }
}
