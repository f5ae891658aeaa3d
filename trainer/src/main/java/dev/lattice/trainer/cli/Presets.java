package dev.lattice.trainer.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.lattice.trainer.model.Recomputation;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Model presets ({@code conf/presets/*.json}, also on the class path): the real shapes as Megatron flags, plus the
 * layouts {@link LayoutAdvisor} recommends for 8, 64 and 256 GPUs of 80 GB. {@code --preset NAME} (or a JSON file)
 * puts the preset's flags in front of the command line, so flags the user types win.
 */
public final class Presets {

    /** A layout as a preset records it; {@code null} in the file where nothing fits. */
    public record Layout(int tp, int pp, int dp, int zero, Recomputation recompute, boolean sequenceParallel,
                         double memoryGb) {

        /** The layout flags of {@code lattice train}. */
        public List<String> args() {
            List<String> a = new ArrayList<>(List.of("--world-size", Integer.toString(tp * pp * dp),
                    "--tensor-model-parallel-size", Integer.toString(tp), "--pipeline-model-parallel-size",
                    Integer.toString(pp), "--zero-stage", Integer.toString(zero)));
            a.addAll(recompute.flags());
            if (sequenceParallel) {
                a.add("--sequence-parallel");
            }
            return a;
        }
    }

    public record Preset(String name, String description, List<String> args, Map<Integer, Layout> layouts) {
    }

    private static final String RESOURCES = "/dev/lattice/trainer/presets/";

    private Presets() {
    }

    /** The bundled presets' names, in the order of conf/presets/index.txt. */
    public static List<String> names() {
        try (InputStream in = Presets.class.getResourceAsStream(RESOURCES + "index.txt")) {
            if (in == null) {
                throw new IllegalStateException("presets index missing from the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().map(String::strip)
                    .filter(l -> !l.isEmpty()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A bundled preset by name, or a preset JSON file by path. */
    public static Preset load(String nameOrPath) {
        String json;
        try {
            Path file = Path.of(nameOrPath);
            if (nameOrPath.endsWith(".json") && Files.isRegularFile(file)) {
                json = Files.readString(file);
            } else {
                try (InputStream in = Presets.class.getResourceAsStream(RESOURCES + nameOrPath + ".json")) {
                    if (in == null) {
                        throw new IllegalArgumentException("--preset " + nameOrPath + ": no such preset (bundled: "
                                + String.join(", ", names()) + "; or give a .json file)");
                    }
                    json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading preset " + nameOrPath, e);
        }
        try {
            JsonObject o = JsonParser.parseString(json).getAsJsonObject();
            List<String> args = new ArrayList<>();
            o.getAsJsonArray("args").forEach(e -> args.add(e.getAsString()));
            Map<Integer, Layout> layouts = new LinkedHashMap<>();
            if (o.has("layouts")) {
                for (Map.Entry<String, JsonElement> e : o.getAsJsonObject("layouts").entrySet()) {
                    JsonElement v = e.getValue();
                    layouts.put(Integer.parseInt(e.getKey()), v.isJsonNull() ? null : layout(v.getAsJsonObject()));
                }
            }
            return new Preset(o.get("name").getAsString(), o.has("description") ? o.get("description")
                    .getAsString() : "", args, layouts);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("preset " + nameOrPath + " is not a valid preset: " + e.getMessage(),
                    e);
        }
    }

    private static Layout layout(JsonObject l) {
        return new Layout(l.get("tensor_model_parallel_size").getAsInt(),
                l.get("pipeline_model_parallel_size").getAsInt(), l.get("data_parallel_size").getAsInt(),
                l.get("zero_stage").getAsInt(), recomputation(l),
                l.get("sequence_parallel").getAsBoolean(), l.get("memory_gb").getAsDouble());
    }

    /**
     * "recompute_granularity": none, selective or full; files written before it existed say "recompute_activations"
     * (true: whole layers; false: the activation function recomputed, which was then the only other mode).
     */
    private static Recomputation recomputation(JsonObject l) {
        if (l.has("recompute_granularity")) {
            String g = l.get("recompute_granularity").getAsString();
            try {
                return Recomputation.valueOf(g.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("recompute_granularity \"" + g + "\": expected none, selective or"
                        + " full");
            }
        }
        if (l.has("recompute_activations")) {
            return l.get("recompute_activations").getAsBoolean() ? Recomputation.FULL : Recomputation.SELECTIVE;
        }
        throw new IllegalArgumentException("a layout without recompute_granularity");
    }

    /** A layout as the preset files write it. */
    public static JsonObject toJson(Layout l) {
        JsonObject o = new JsonObject();
        o.addProperty("tensor_model_parallel_size", l.tp());
        o.addProperty("pipeline_model_parallel_size", l.pp());
        o.addProperty("data_parallel_size", l.dp());
        o.addProperty("zero_stage", l.zero());
        o.addProperty("recompute_granularity", l.recompute().name().toLowerCase(Locale.ROOT));
        o.addProperty("sequence_parallel", l.sequenceParallel());
        o.addProperty("memory_gb", l.memoryGb());
        return o;
    }

    /**
     * The flags a preset in {@code args} sets that the user did not type: they are defaults, not explicit choices
     * (a --config file may still set them).
     */
    public static java.util.Set<String> presetOnlyFlags(String[] args) {
        java.util.Set<String> typed = new java.util.HashSet<>();
        java.util.Set<String> fromPresets = new java.util.HashSet<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (isPreset(a)) {
                String v = presetValue(args, i);
                i += a.contains("=") ? 0 : 1;
                if (v != null) {
                    for (String f : load(v).args()) {
                        if (f.startsWith("--")) {
                            fromPresets.add(f.contains("=") ? f.substring(0, f.indexOf('=')) : f);
                        }
                    }
                }
            } else if (a.startsWith("--")) {
                typed.add(a.contains("=") ? a.substring(0, a.indexOf('=')) : a);
            }
        }
        fromPresets.removeAll(typed);
        return fromPresets;
    }

    private static boolean isPreset(String arg) {
        return arg.equals("--preset") || arg.startsWith("--preset=");
    }

    /** The value of the --preset flag at {@code args[i]} ({@code --preset X} or {@code --preset=X}), or null. */
    private static String presetValue(String[] args, int i) {
        String a = args[i];
        return a.contains("=") ? a.substring(a.indexOf('=') + 1) : i + 1 < args.length ? args[i + 1] : null;
    }

    /** {@code args} with every {@code --preset X} replaced by X's flags, put first (the user's flags win). */
    public static String[] expand(String[] args) {
        List<String> front = new ArrayList<>();
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (isPreset(args[i])) {
                String v = presetValue(args, i);
                i += args[i].contains("=") ? 0 : 1;
                if (v == null) {
                    throw new IllegalArgumentException("--preset needs a name or a .json file");
                }
                front.addAll(load(v).args());
            } else {
                rest.add(args[i]);
            }
        }
        front.addAll(rest);
        return front.toArray(new String[0]);
    }
}
