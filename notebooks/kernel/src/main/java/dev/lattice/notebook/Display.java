package dev.lattice.notebook;

import io.github.spencerpark.jupyter.kernel.display.DisplayData;
import io.github.spencerpark.jupyter.kernel.display.mime.MIMEType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Rich output from a notebook cell (imported in every cell): {@code Display.png(Path.of("loss.png"))} shows the
 * image inline, {@code Display.markdown("**done**")} renders Markdown.
 */
public final class Display {

    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private static volatile Consumer<DisplayData> sink = d -> {
        throw new IllegalStateException("Display shows output in a notebook run by the Lattice kernel");
    };

    private Display() {
    }

    /** The kernel routes display data to the cell that is running. */
    static void setSink(Consumer<DisplayData> s) {
        sink = Objects.requireNonNull(s);
    }

    /** Shows the PNG file inline. */
    public static void png(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        png(bytes, file.getFileName().toString());
    }

    /** Shows PNG bytes inline. */
    public static void png(byte[] png) {
        png(png, "image");
    }

    private static void png(byte[] png, String name) {
        if (png.length < PNG_SIGNATURE.length || !Arrays.equals(png, 0, PNG_SIGNATURE.length, PNG_SIGNATURE, 0,
                PNG_SIGNATURE.length)) {
            throw new IllegalArgumentException(name + " is not a PNG image (" + png.length + " bytes, no PNG"
                    + " signature)");
        }
        DisplayData d = new DisplayData(name + " (PNG, " + png.length + " bytes)");
        d.putData(MIMEType.IMAGE_PNG, Base64.getEncoder().encodeToString(png));
        sink.accept(d);
    }

    /** Renders Markdown (a table, a heading) in the cell's output. */
    public static void markdown(String markdown) {
        DisplayData d = new DisplayData(markdown);
        d.putData(MIMEType.TEXT_MARKDOWN, markdown);
        sink.accept(d);
    }
}
