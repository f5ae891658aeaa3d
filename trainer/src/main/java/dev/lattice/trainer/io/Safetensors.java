package dev.lattice.trainer.io;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.Strictness;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.JsonWriter;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Reader and writer for the safetensors format.
 *
 * <p>Layout: an 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON mapping each tensor name to
 * {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the first byte after the header)
 * plus an optional {@code "__metadata__"} map of strings, then the data: little-endian, row-major.
 *
 * <p>Reading: {@link #open(Path)} parses and validates the header (every problem is a {@link SafetensorsException}
 * naming the file and, where there is one, the tensor); tensor data is read on demand with positional reads, so
 * one open file may be read from several threads. Writing: {@link #write(Path, Collection, Map, DType)} writes F32,
 * BF16 or F16 with the header keys sorted ({@code __metadata__} first, as the reference implementation does),
 * the data in header order, the header padded with spaces to a multiple of 8 bytes, to a temporary file in the
 * same directory that is then moved into place atomically.
 */
public final class Safetensors implements AutoCloseable {

    /** The header key holding the string-to-string metadata map. */
    public static final String METADATA_KEY = "__metadata__";
    /** Largest header accepted (the reference implementation's limit). */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final int CHUNK_BYTES = 1 << 22;
    private static final TypeAdapter<JsonElement> JSON = new Gson().getAdapter(JsonElement.class);

    /**
     * One tensor's header entry.
     *
     * @param begin first byte, relative to the start of the data section
     * @param end   one past the last byte
     */
    public record TensorInfo(String name, DType dtype, int[] shape, long begin, long end) {
        /** Number of elements. */
        public long numel() {
            return NamedTensor.numel(shape, name);
        }

        /** Number of data bytes. */
        public long byteLength() {
            return end - begin;
        }

        @Override
        public String toString() {
            return name + " " + dtype + " " + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
        }
    }

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private Safetensors(Path file, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors,
                        Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    // ------------------------------------------------------------------------------------------------ reading

    /** Opens and validates a file; close it when done. */
    public static Safetensors open(Path file) throws IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        try {
            long size = ch.size();
            if (size < 8) {
                throw error(file, "file is " + size + " bytes, too short for the 8-byte header length");
            }
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, 0, file);
            long n = len.getLong(0);
            if (n < 0 || n > size - 8) {
                throw error(file, "header length " + Long.toUnsignedString(n) + " runs beyond the end of the file ("
                        + size + " bytes)");
            }
            if (n > MAX_HEADER_BYTES) {
                throw error(file, "header length " + n + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes");
            }
            if (n < 2) {
                throw error(file, "header length " + n + " is too short for a JSON object");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readFully(ch, hb, 8, file);
            hb.flip();
            String header;
            try {
                header = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(hb).toString();
            } catch (CharacterCodingException e) {
                throw error(file, "header is not valid UTF-8");
            }
            long dataSize = size - 8 - n;
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, TensorInfo> infos = parseHeader(file, header, dataSize, meta);
            return new Safetensors(file, ch, 8 + n, Collections.unmodifiableMap(infos),
                    Collections.unmodifiableMap(meta));
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Reads every tensor of a file as floats, in header order. */
    public static Map<String, NamedTensor> readAll(Path file) throws IOException {
        try (Safetensors st = open(file)) {
            return st.readAll();
        }
    }

    private static Map<String, TensorInfo> parseHeader(Path file, String header, long dataSize,
                                                       Map<String, String> meta) throws SafetensorsException {
        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        try {
            JsonReader r = new JsonReader(new StringReader(header));
            r.setStrictness(Strictness.STRICT);
            if (r.peek() != JsonToken.BEGIN_OBJECT) {
                throw error(file, "header is not a JSON object");
            }
            r.beginObject();
            Set<String> seen = new java.util.HashSet<>();
            while (r.hasNext()) {
                String key = r.nextName();
                if (!seen.add(key)) {
                    throw error(file, "header lists '" + key + "' twice");
                }
                JsonElement value = JSON.read(r);
                if (key.equals(METADATA_KEY)) {
                    parseMetadata(file, value, meta);
                } else {
                    infos.put(key, parseEntry(file, key, value));
                }
            }
            r.endObject();
            if (r.peek() != JsonToken.END_DOCUMENT) {
                throw error(file, "header has content after its JSON object");
            }
        } catch (SafetensorsException e) {
            throw e;
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            throw new SafetensorsException(file + ": header is not valid JSON: " + e.getMessage(), e);
        }
        validateOffsets(file, infos, dataSize);
        return infos;
    }

    private static void parseMetadata(Path file, JsonElement value, Map<String, String> meta)
            throws SafetensorsException {
        if (value.isJsonNull()) {
            return;
        }
        if (!value.isJsonObject()) {
            throw error(file, METADATA_KEY + " is not a JSON object");
        }
        for (Map.Entry<String, JsonElement> e : value.getAsJsonObject().entrySet()) {
            JsonElement v = e.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                throw error(file, METADATA_KEY + " value of '" + e.getKey() + "' is not a string: " + v);
            }
            meta.put(e.getKey(), v.getAsString());
        }
    }

    private static TensorInfo parseEntry(Path file, String name, JsonElement value) throws SafetensorsException {
        if (!value.isJsonObject()) {
            throw error(file, name, "header entry is not a JSON object: " + value);
        }
        JsonObject o = value.getAsJsonObject();
        JsonElement dt = o.get("dtype");
        if (dt == null || !dt.isJsonPrimitive() || !dt.getAsJsonPrimitive().isString()) {
            throw error(file, name, "missing or non-string \"dtype\"");
        }
        DType dtype = DType.fromHeaderName(dt.getAsString());
        if (dtype == null) {
            throw error(file, name, "unknown dtype '" + dt.getAsString() + "'");
        }
        JsonElement sh = o.get("shape");
        if (sh == null || !sh.isJsonArray()) {
            throw error(file, name, "missing or non-array \"shape\"");
        }
        JsonArray sa = sh.getAsJsonArray();
        int[] shape = new int[sa.size()];
        for (int i = 0; i < shape.length; i++) {
            long d = nonNegativeInteger(file, name, "shape", sa.get(i));
            if (d > Integer.MAX_VALUE) {
                throw error(file, name, "dimension " + d + " is too large");
            }
            shape[i] = (int) d;
        }
        JsonElement of = o.get("data_offsets");
        if (of == null || !of.isJsonArray() || of.getAsJsonArray().size() != 2) {
            throw error(file, name, "\"data_offsets\" must be an array [begin, end]");
        }
        long begin = nonNegativeInteger(file, name, "data_offsets", of.getAsJsonArray().get(0));
        long end = nonNegativeInteger(file, name, "data_offsets", of.getAsJsonArray().get(1));
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegativeInteger(Path file, String name, String field, JsonElement e)
            throws SafetensorsException {
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()) {
            try {
                long v = new BigDecimal(e.getAsString()).longValueExact();
                if (v >= 0) {
                    return v;
                }
            } catch (ArithmeticException | NumberFormatException ignored) {
                // reported below
            }
        }
        throw error(file, name, "\"" + field + "\" holds " + e + ", not a non-negative integer");
    }

    private static void validateOffsets(Path file, Map<String, TensorInfo> infos, long dataSize)
            throws SafetensorsException {
        for (TensorInfo t : infos.values()) {
            if (t.end < t.begin) {
                throw error(file, t.name, "data_offsets [" + t.begin + ", " + t.end + "] end before they begin");
            }
            if (t.end > dataSize) {
                throw error(file, t.name, "data_offsets [" + t.begin + ", " + t.end
                        + "] run beyond the data section (" + dataSize + " bytes)");
            }
            long need;
            try {
                need = Math.multiplyExact(t.numel(), t.dtype.itemSize());
            } catch (ArithmeticException e) {
                throw error(file, t.name, "shape " + Arrays.toString(t.shape) + " is too large");
            }
            if (t.end - t.begin != need) {
                throw error(file, t.name, "data_offsets [" + t.begin + ", " + t.end + "] span " + (t.end - t.begin)
                        + " bytes but shape " + Arrays.toString(t.shape) + " of " + t.dtype + " needs " + need);
            }
        }
        List<TensorInfo> sorted = new ArrayList<>(infos.values());
        sorted.removeIf(t -> t.end == t.begin);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo a = sorted.get(i - 1);
            TensorInfo b = sorted.get(i);
            if (b.begin < a.end) {
                throw error(file, b.name, "data_offsets [" + b.begin + ", " + b.end + "] overlap those of '"
                        + a.name + "' [" + a.begin + ", " + a.end + "]");
            }
        }
    }

    /** The file this was opened from. */
    public Path file() {
        return file;
    }

    /** Tensor names in header order. */
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    /** Whether the file holds a tensor of this name. */
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** Header entries by name, in header order. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** One header entry; {@link SafetensorsException} if absent. */
    public TensorInfo info(String name) throws SafetensorsException {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw error(file, name, "no such tensor");
        }
        return t;
    }

    /** A tensor's shape (a copy). */
    public int[] shape(String name) throws SafetensorsException {
        return info(name).shape.clone();
    }

    /** A tensor's element type. */
    public DType dtype(String name) throws SafetensorsException {
        return info(name).dtype;
    }

    /** The {@code __metadata__} map (empty if none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Reads a tensor as floats from F32, F16, BF16, F64 (or, exactly where they fit, integer types). */
    public float[] readFloats(String name) throws IOException {
        TensorInfo t = info(name);
        if (!t.dtype.readableAsFloat()) {
            throw error(file, name, "dtype " + t.dtype + " cannot be read as float");
        }
        float[] out = new float[arrayLength(t)];
        DType d = t.dtype;
        readChunks(t, (buf, off, count) -> {
            switch (d) {
                case F32 -> buf.asFloatBuffer().get(out, off, count);
                case F64 -> {
                    for (int i = 0; i < count; i++) {
                        out[off + i] = (float) buf.getDouble(i * 8);
                    }
                }
                case F16 -> {
                    for (int i = 0; i < count; i++) {
                        out[off + i] = HalfFloats.f16ToFloat(buf.getShort(i * 2));
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < count; i++) {
                        out[off + i] = HalfFloats.bf16ToFloat(buf.getShort(i * 2));
                    }
                }
                default -> {
                    for (int i = 0; i < count; i++) {
                        out[off + i] = (float) integerAt(buf, d, i);
                    }
                }
            }
        });
        return out;
    }

    /** Reads an integer tensor (I64, I32, I16, I8, U8, U16, U32, BOOL; U64 up to 2^63−1) as longs. */
    public long[] readLongs(String name) throws IOException {
        TensorInfo t = info(name);
        if (!t.dtype.isInteger()) {
            throw error(file, name, "dtype " + t.dtype + " is not an integer type");
        }
        long[] out = new long[arrayLength(t)];
        DType d = t.dtype;
        readChunks(t, (buf, off, count) -> {
            for (int i = 0; i < count; i++) {
                long v = integerAt(buf, d, i);
                if (d == DType.U64 && v < 0) {
                    throw new ArithmeticException("element " + (off + i) + " = " + Long.toUnsignedString(v)
                            + " does not fit a long");
                }
                out[off + i] = v;
            }
        });
        return out;
    }

    /** Reads an integer tensor as ints; wider types are range-checked. */
    public int[] readInts(String name) throws IOException {
        long[] l = readLongs(name);
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            if (l[i] < Integer.MIN_VALUE || l[i] > Integer.MAX_VALUE) {
                throw error(file, name, "element " + i + " = " + l[i] + " does not fit an int");
            }
            out[i] = (int) l[i];
        }
        return out;
    }

    /** Reads a tensor as a {@link NamedTensor} of floats. */
    public NamedTensor read(String name) throws IOException {
        return new NamedTensor(name, shape(name), readFloats(name));
    }

    /** Reads every tensor as floats, in header order. */
    public Map<String, NamedTensor> readAll() throws IOException {
        Map<String, NamedTensor> out = new LinkedHashMap<>();
        for (String n : tensors.keySet()) {
            out.put(n, read(n));
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    private int arrayLength(TensorInfo t) throws SafetensorsException {
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw error(file, t.name, n + " elements do not fit a Java array");
        }
        return (int) n;
    }

    private static long integerAt(ByteBuffer buf, DType d, int i) {
        return switch (d) {
            case BOOL, U8 -> buf.get(i) & 0xffL;
            case I8 -> buf.get(i);
            case I16 -> buf.getShort(i * 2);
            case U16 -> buf.getShort(i * 2) & 0xffffL;
            case I32 -> buf.getInt(i * 4);
            case U32 -> buf.getInt(i * 4) & 0xffffffffL;
            case I64, U64 -> buf.getLong(i * 8);
            default -> throw new IllegalStateException(d.toString());
        };
    }

    @FunctionalInterface
    private interface ChunkSink {
        /** {@code buf} holds {@code count} elements, little-endian, from position 0. */
        void accept(ByteBuffer buf, int offset, int count);
    }

    private void readChunks(TensorInfo t, ChunkSink sink) throws IOException {
        int item = t.dtype.itemSize();
        long total = t.numel();
        int perChunk = CHUNK_BYTES / item;
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min((long) perChunk * item, Math.max(total * item, 1)))
                .order(ByteOrder.LITTLE_ENDIAN);
        long done = 0;
        while (done < total) {
            int count = (int) Math.min(perChunk, total - done);
            buf.clear().limit(count * item);
            readFully(channel, buf, dataStart + t.begin + done * item, file);
            buf.flip();
            try {
                sink.accept(buf.slice().order(ByteOrder.LITTLE_ENDIAN), (int) done, count);
            } catch (ArithmeticException e) {
                throw error(file, t.name, e.getMessage());
            }
            done += count;
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position, Path file) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw error(file, "unexpected end of file at byte " + pos);
            }
            pos += n;
        }
    }

    private static SafetensorsException error(Path file, String message) {
        return new SafetensorsException(file + ": " + message);
    }

    private static SafetensorsException error(Path file, String tensor, String message) {
        return new SafetensorsException(file + ": tensor '" + tensor + "': " + message);
    }

    // ------------------------------------------------------------------------------------------------ writing

    /** Writes float tensors as F32 without metadata. */
    public static void write(Path file, Collection<NamedTensor> tensors) throws IOException {
        write(file, tensors, Map.of(), DType.F32);
    }

    /** Writes float tensors as F32 with optional metadata (null or empty: none). */
    public static void write(Path file, Collection<NamedTensor> tensors, Map<String, String> metadata)
            throws IOException {
        write(file, tensors, metadata, DType.F32);
    }

    /**
     * Writes float tensors.
     *
     * @param file     destination; replaced atomically where the file system allows
     * @param tensors  tensors with distinct names (not {@code __metadata__}); written sorted by name
     * @param metadata {@code __metadata__} strings; null or empty writes none
     * @param dtype    storage type: F32, BF16 or F16 (both rounded to nearest even)
     */
    public static void write(Path file, Collection<NamedTensor> tensors, Map<String, String> metadata, DType dtype)
            throws IOException {
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16) {
            throw new IllegalArgumentException("can write F32, BF16 or F16, not " + dtype);
        }
        TreeMap<String, NamedTensor> sorted = new TreeMap<>();
        for (NamedTensor t : tensors) {
            if (t.name().equals(METADATA_KEY)) {
                throw new IllegalArgumentException("a tensor must not be named " + METADATA_KEY);
            }
            if (sorted.put(t.name(), t) != null) {
                throw new IllegalArgumentException("tensor '" + t.name() + "' is given twice for " + file);
            }
        }
        byte[] header = headerBytes(sorted, metadata, dtype);
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Files.createDirectories(dir);
        Path tmp = siblingTempFile(target);
        boolean moved = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
                len.flip();
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                ByteBuffer buf = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                for (NamedTensor t : sorted.values()) {
                    writeData(ch, buf, t.data(), dtype);
                }
                ch.force(true);
            }
            moveIntoPlace(tmp, target);
            moved = true;
        } finally {
            if (!moved) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /**
     * A new empty temporary file next to {@code target}, readable like an ordinary file: the permissions of
     * {@code target} if it exists, else rw-r--r-- (createTempFile alone would leave it owner-only).
     */
    public static Path siblingTempFile(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        Path tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName() + ".", ".tmp");
        try {
            Set<PosixFilePermission> perms = Files.exists(abs) ? Files.getPosixFilePermissions(abs)
                    : PosixFilePermissions.fromString("rw-r--r--");
            Files.setPosixFilePermissions(tmp, perms);
        } catch (UnsupportedOperationException | IOException ignored) {
            // not a POSIX file system, or not allowed: keep the defaults
        }
        return tmp;
    }

    /** Moves {@code tmp} onto {@code target}, atomically where supported. */
    public static void moveIntoPlace(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The padded header the writer produces (exposed for tests and tools). */
    static byte[] headerBytes(Map<String, NamedTensor> sortedTensors, Map<String, String> metadata, DType dtype) {
        StringWriter sw = new StringWriter();
        try (JsonWriter w = new JsonWriter(sw)) {
            w.setHtmlSafe(false);
            w.beginObject();
            if (metadata != null && !metadata.isEmpty()) {
                w.name(METADATA_KEY).beginObject();
                for (Map.Entry<String, String> e : new TreeMap<>(metadata).entrySet()) {
                    w.name(e.getKey()).value(e.getValue());
                }
                w.endObject();
            }
            long offset = 0;
            for (NamedTensor t : sortedTensors.values()) {
                long bytes = (long) t.numel() * dtype.itemSize();
                w.name(t.name()).beginObject();
                w.name("dtype").value(dtype.headerName());
                w.name("shape").beginArray();
                for (int d : t.shape()) {
                    w.value(d);
                }
                w.endArray();
                w.name("data_offsets").beginArray().value(offset).value(offset + bytes).endArray();
                w.endObject();
                offset += bytes;
            }
            w.endObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        byte[] json = sw.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - json.length % 8) % 8;
        byte[] out = Arrays.copyOf(json, json.length + pad);
        Arrays.fill(out, json.length, out.length, (byte) ' ');
        return out;
    }

    private static void writeData(FileChannel ch, ByteBuffer buf, float[] data, DType dtype) throws IOException {
        int per = buf.capacity() / dtype.itemSize();
        for (int start = 0; start < data.length; start += per) {
            int count = Math.min(per, data.length - start);
            buf.clear();
            switch (dtype) {
                case F32 -> {
                    buf.asFloatBuffer().put(data, start, count);
                    buf.position(count * 4);
                }
                case BF16 -> {
                    for (int i = 0; i < count; i++) {
                        buf.putShort(HalfFloats.floatToBf16(data[start + i]));
                    }
                }
                case F16 -> {
                    for (int i = 0; i < count; i++) {
                        buf.putShort(HalfFloats.floatToF16(data[start + i]));
                    }
                }
                default -> throw new IllegalStateException(dtype.toString());
            }
            buf.flip();
            writeFully(ch, buf);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
