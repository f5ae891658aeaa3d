package dev.lattice.trainer.io;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {

    @TempDir
    Path dir;

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 4 - 2);
        }
        return a;
    }

    @Test
    void roundTripF32() throws IOException {
        List<NamedTensor> ts = List.of(
                new NamedTensor("z.weight", new int[] {3, 5}, random(15, 1)),
                new NamedTensor("a.bias", new int[] {7}, random(7, 2)),
                new NamedTensor("scalar", new int[] {}, new float[] {42f}),
                new NamedTensor("empty", new int[] {0, 3}, new float[0]),
                new NamedTensor("m.cube", new int[] {2, 3, 4}, random(24, 3)));
        Path f = dir.resolve("t.safetensors");
        Safetensors.write(f, ts, Map.of("format", "pt", "note", "héllo \"quoted\""));
        try (Safetensors st = Safetensors.open(f)) {
            assertEquals(List.of("a.bias", "empty", "m.cube", "scalar", "z.weight"), st.names());
            assertEquals(Map.of("format", "pt", "note", "héllo \"quoted\""), st.metadata());
            for (NamedTensor t : ts) {
                assertEquals(DType.F32, st.dtype(t.name()));
                assertArrayEquals(t.shape(), st.shape(t.name()));
                assertEquals(t, st.read(t.name()));
            }
        }
        // data in header order, header 8-aligned, no stray temporary files
        byte[] bytes = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
        assertEquals(8 + n + 4L * (7 + 0 + 24 + 1 + 15), bytes.length);
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList());
        }
        Map<String, NamedTensor> all = Safetensors.readAll(f);
        assertEquals(5, all.size());
        if (Files.getFileStore(f).supportsFileAttributeView("posix")) {
            assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(f)));
        }
    }

    @Test
    void overwriteReplacesFile() throws IOException {
        Path f = dir.resolve("x.safetensors");
        Safetensors.write(f, List.of(new NamedTensor("a", new int[] {2}, new float[] {1, 2})));
        Safetensors.write(f, List.of(new NamedTensor("b", new int[] {1}, new float[] {3})));
        assertEquals(Map.of("b", new NamedTensor("b", new int[] {1}, new float[] {3})), Safetensors.readAll(f));
    }

    @Test
    void roundTripBf16AndF16() throws IOException {
        float[] v = {1f, -2.5f, 65504f, 0x1p-24f, 1e-40f, Float.POSITIVE_INFINITY, Float.NaN, 0.1f, -0f};
        Path f = dir.resolve("h.safetensors");
        Safetensors.write(f, List.of(new NamedTensor("w", new int[] {v.length}, v)), null, DType.BF16);
        try (Safetensors st = Safetensors.open(f)) {
            assertEquals(DType.BF16, st.dtype("w"));
            assertTrue(st.metadata().isEmpty());
            float[] back = st.readFloats("w");
            for (int i = 0; i < v.length; i++) {
                assertEquals(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v[i])), back[i]);
            }
            assertEquals(65536f, back[2]);
        }
        Safetensors.write(f, List.of(new NamedTensor("w", new int[] {v.length}, v)), null, DType.F16);
        try (Safetensors st = Safetensors.open(f)) {
            float[] back = st.readFloats("w");
            assertEquals(65504f, back[2]);
            assertEquals(0x1p-24f, back[3]);
            assertEquals(0f, back[4]);
            assertTrue(Float.isNaN(back[6]));
        }
    }

    /** The writer's exact bytes, spelled out from the format description. */
    @Test
    void goldenWriterBytes() throws IOException {
        String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}";
        assertEquals(141, json.length());
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.writeBytes(HexFormat.of().parseHex("9000000000000000"));  // 141 + 3 spaces = 144
        expected.writeBytes((json + "   ").getBytes(StandardCharsets.US_ASCII));
        expected.writeBytes(HexFormat.of().parseHex("0000803f" + "000020c0" + "0000003f"));  // 1, -2.5, 0.5
        Path f = dir.resolve("g.safetensors");
        Safetensors.write(f, List.of(new NamedTensor("b", new int[] {1, 1}, new float[] {0.5f}),
                new NamedTensor("a", new int[] {2}, new float[] {1f, -2.5f})), Map.of("format", "pt"));
        assertEquals(HexFormat.of().formatHex(expected.toByteArray()), HexFormat.of().formatHex(Files.readAllBytes(f)));
    }

    /** A hand-built file with every readable dtype, keys out of order and data out of header order. */
    @Test
    void goldenReaderMixedDtypes() throws IOException {
        String json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]},"
                + "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[32,40]},"
                + "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[16,32]},"
                + "\"j\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[40,44]},"
                + "\"__metadata__\":{\"k\":\"v\"}}";
        String data = "003c" + "00c1" + "ff7b" + "0100"          // F16: 1, -2.5, 65504, 2^-24
                + "803f" + "20c0" + "c07f" + "80ff"             // BF16: 1, -2.5, NaN, -Inf
                + "0700000000000000" + "feffffffffffffff"       // I64: 7, -2
                + "000000000000f83f"                            // F64: 1.5
                + "ffffff7f";                                   // I32: 2^31-1
        Path f = dir.resolve("mixed.safetensors");
        write(f, json, HexFormat.of().parseHex(data));
        try (Safetensors st = Safetensors.open(f)) {
            assertEquals(List.of("h", "b", "d", "i", "j"), st.names());
            assertEquals(Map.of("k", "v"), st.metadata());
            assertArrayEquals(new float[] {1f, -2.5f, 65504f, 0x1p-24f}, st.readFloats("h"));
            float[] b = st.readFloats("b");
            assertEquals(1f, b[0]);
            assertEquals(-2.5f, b[1]);
            assertTrue(Float.isNaN(b[2]));
            assertEquals(Float.NEGATIVE_INFINITY, b[3]);
            assertArrayEquals(new int[] {2, 2}, st.shape("b"));
            assertArrayEquals(new float[] {1.5f}, st.readFloats("d"));
            assertArrayEquals(new long[] {7, -2}, st.readLongs("i"));
            assertArrayEquals(new int[] {7, -2}, st.readInts("i"));
            assertArrayEquals(new float[] {7f, -2f}, st.readFloats("i"));
            assertArrayEquals(new int[] {Integer.MAX_VALUE}, st.readInts("j"));
            assertArrayEquals(new int[] {}, st.shape("j"));
            assertEquals(DType.I32, st.dtype("j"));
            assertEquals(44, st.info("j").end());
        }
    }

    private static void write(Path f, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Files.write(f, b.array());
    }

    private void corrupt(String header, int dataBytes, String... expectedFragments) throws IOException {
        Path f = dir.resolve("bad.safetensors");
        write(f, header, new byte[dataBytes]);
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Safetensors.open(f).close());
        assertTrue(e.getMessage().contains("bad.safetensors"), e.getMessage());
        for (String frag : expectedFragments) {
            assertTrue(e.getMessage().contains(frag), "'" + e.getMessage() + "' lacks '" + frag + "'");
        }
    }

    private static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin
                + "," + end + "]}";
    }

    @Test
    void corruptFilesGiveNamedErrors() throws IOException {
        corrupt("{" + entry("w", "F32", "[2]", 0, 8) + "}", 4, "tensor 'w'", "beyond the data section");
        corrupt("{" + entry("w", "F32", "[3]", 0, 8) + "}", 8, "tensor 'w'", "span 8 bytes", "needs 12");
        corrupt("{" + entry("w", "Q4", "[2]", 0, 8) + "}", 8, "tensor 'w'", "unknown dtype 'Q4'");
        corrupt("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12) + "}", 12,
                "tensor 'b'", "overlap", "'a'");
        corrupt("{" + entry("w", "F32", "[0]", 8, 0) + "}", 8, "tensor 'w'", "end before");
        corrupt("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}", 8, "tensor 'w'",
                "not a non-negative integer");
        corrupt("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "tensor 'w'", "shape");
        corrupt("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor 'w'", "data_offsets");
        corrupt("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w'", "dtype");
        corrupt("{\"w\":[1,2]}", 8, "tensor 'w'", "not a JSON object");
        corrupt("{\"w\": {\"dtype\":\"F32\",", 8, "not valid JSON");
        corrupt("{\"a\":1} trailing", 8, "JSON");
        corrupt("[1,2,3]", 8, "not a JSON object");
        corrupt("{\"__metadata__\":{\"k\":3}}", 0, "__metadata__", "'k'");
        corrupt("{" + entry("w", "F32", "[1]", 0, 4) + "," + entry("w", "F32", "[1]", 0, 4) + "}", 4, "'w' twice");
    }

    @Test
    void truncatedAndOversizedHeaders() throws IOException {
        Path f = dir.resolve("short.safetensors");
        Files.write(f, new byte[] {1, 2, 3});
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Safetensors.open(f));
        assertTrue(e.getMessage().contains("short.safetensors") && e.getMessage().contains("too short"));

        Path g = dir.resolve("long.safetensors");
        ByteBuffer b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Files.write(g, b.array());
        e = assertThrows(SafetensorsException.class, () -> Safetensors.open(g));
        assertTrue(e.getMessage().contains("long.safetensors") && e.getMessage().contains("header length 1000"),
                e.getMessage());

        ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-5);
        Files.write(g, huge.array());
        e = assertThrows(SafetensorsException.class, () -> Safetensors.open(g));
        assertTrue(e.getMessage().contains("18446744073709551611"), e.getMessage());

        Path bad = dir.resolve("utf.safetensors");
        write(bad, "{}", new byte[0]);
        byte[] bytes = Files.readAllBytes(bad);
        bytes[8] = (byte) 0xff;
        Files.write(bad, bytes);
        e = assertThrows(SafetensorsException.class, () -> Safetensors.open(bad));
        assertTrue(e.getMessage().contains("UTF-8"), e.getMessage());
    }

    @Test
    void wrongAccessIsNamed() throws IOException {
        Path f = dir.resolve("ok.safetensors");
        Safetensors.write(f, List.of(new NamedTensor("w", new int[] {2}, new float[] {1, 2})));
        try (Safetensors st = Safetensors.open(f)) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> st.readFloats("nope"));
            assertTrue(e.getMessage().contains("ok.safetensors") && e.getMessage().contains("'nope'"));
            e = assertThrows(SafetensorsException.class, () -> st.readLongs("w"));
            assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("F32"));
        }
    }

    @Test
    void writerRejectsBadInput() {
        Path f = dir.resolve("w.safetensors");
        NamedTensor a = new NamedTensor("a", new int[] {1}, new float[] {1});
        assertThrows(IllegalArgumentException.class, () -> Safetensors.write(f, List.of(a, a)));
        assertThrows(IllegalArgumentException.class,
                () -> Safetensors.write(f, List.of(a.withName("__metadata__"))));
        assertThrows(IllegalArgumentException.class, () -> Safetensors.write(f, List.of(a), null, DType.I64));
        assertThrows(IllegalArgumentException.class, () -> new NamedTensor("x", new int[] {2, 2}, new float[3]));
    }

    @Test
    void largeTensorCrossesChunks() throws IOException {
        int n = (1 << 20) + 3;  // > one 4 MiB read chunk
        float[] v = random(n, 9);
        Path f = dir.resolve("big.safetensors");
        Safetensors.write(f, List.of(new NamedTensor("big", new int[] {n}, v)), null, DType.BF16);
        float[] back = Safetensors.readAll(f).get("big").data();
        for (int i = 0; i < n; i += 4099) {
            assertEquals(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v[i])), back[i]);
        }
        assertEquals(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v[n - 1])), back[n - 1]);
    }

    private Path resource(String name) throws IOException {
        Path f = dir.resolve(name);
        try (var in = SafetensorsTest.class.getResourceAsStream(name)) {
            assertTrue(in != null, "missing test resource " + name);
            Files.write(f, in.readAllBytes());
        }
        return f;
    }

    /**
     * Files written by the reference implementation (python safetensors 0.8.0 with torch 2.11, see
     * trainer/tools/make_hf_fixtures.py's environment): we read its dtypes and write the same bytes.
     */
    @Test
    void matchesReferenceImplementationFiles() throws IOException {
        try (Safetensors st = Safetensors.open(resource("reference_mixed.safetensors"))) {
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertArrayEquals(new int[] {2, 2}, st.shape("w"));
            assertEquals(DType.BF16, st.dtype("w"));
            assertArrayEquals(new float[] {1f, -2.5f, 65536f, 0.10009765625f}, st.readFloats("w"));
            assertArrayEquals(new long[] {3, -4}, st.readLongs("i"));
            assertArrayEquals(new float[] {1f, 0x1p-24f}, st.readFloats("h"));
            assertArrayEquals(new float[] {1.5f}, st.readFloats("d"));
        }
        Path ours = dir.resolve("ours.safetensors");
        Safetensors.write(ours, List.of(
                new NamedTensor("x", new int[] {2, 3}, new float[] {1f, -2.5f, 65504f, 0.1f, 3f, 4f}),
                new NamedTensor("y", new int[] {3}, new float[] {7, 8, 9}),
                new NamedTensor("s", new int[] {}, new float[] {5})), Map.of("format", "pt"));
        assertArrayEquals(Files.readAllBytes(resource("reference_f32.safetensors")), Files.readAllBytes(ours));
    }

    // ---------------------------------------------------------------------------- optional Python cross-check

    private static boolean pythonHas(String module) {
        try {
            Process p = new ProcessBuilder("python3", "-c", "import " + module).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    private static String python(String script, Path... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("python3", "-c", script));
        for (Path a : args) {
            cmd.add(a.toString());
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    /** Runs only where python3 has safetensors and numpy (not on the build machine as of writing). */
    @Test
    void crossCheckWithReferenceImplementation() throws Exception {
        Assumptions.assumeTrue(pythonHas("safetensors.numpy") && pythonHas("numpy"),
                "python3 with safetensors + numpy not available");
        Path ours = dir.resolve("ours.safetensors");
        Map<String, NamedTensor> ts = new LinkedHashMap<>();
        ts.put("x", new NamedTensor("x", new int[] {2, 3}, new float[] {1, -2.5f, 65504, 0.1f, 3, 4}));
        ts.put("y", new NamedTensor("y", new int[] {3}, new float[] {7, 8, 9}));
        Safetensors.write(ours, ts.values(), Map.of("format", "pt"));
        String out = python("""
                import sys, numpy as np
                from safetensors.numpy import load_file, save_file
                from safetensors import safe_open
                t = load_file(sys.argv[1])
                assert t['x'].shape == (2, 3) and t['x'].dtype == np.float32, t['x']
                assert np.array_equal(t['x'].ravel(), np.array([1, -2.5, 65504, 0.1, 3, 4], np.float32))
                assert np.array_equal(t['y'], np.array([7, 8, 9], np.float32))
                with safe_open(sys.argv[1], 'np') as f:
                    assert f.metadata() == {'format': 'pt'}
                theirs = {'x': t['x'], 'y': t['y'],
                          'h': np.array([1, -2.5, 65504, 2**-24], np.float16),
                          'i': np.array([[1, -2]], np.int64)}
                save_file(theirs, sys.argv[2], metadata={'format': 'pt'})
                print('ok')
                """, ours, dir.resolve("theirs.safetensors"));
        assertTrue(out.contains("ok"), out);
        // the reference writer's bytes for x and y equal ours when its dtype-alignment sort is neutral
        try (Safetensors st = Safetensors.open(dir.resolve("theirs.safetensors"))) {
            assertEquals(ts.get("x"), st.read("x"));
            assertArrayEquals(new float[] {1, -2.5f, 65504, 0x1p-24f}, st.readFloats("h"));
            assertArrayEquals(new long[] {1, -2}, st.readLongs("i"));
            assertArrayEquals(new int[] {1, 2}, st.shape("i"));
        }
        Path refOnlyXy = dir.resolve("ref_xy.safetensors");
        python("""
                import sys
                from safetensors.numpy import load_file, save_file
                save_file(load_file(sys.argv[1]), sys.argv[2], metadata={'format': 'pt'})
                """, ours, refOnlyXy);
        assertArrayEquals(Files.readAllBytes(refOnlyXy), Files.readAllBytes(ours), "byte-identical to reference");
    }
}
