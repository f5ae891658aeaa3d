package dev.lattice.trainer.cli;

import dev.lattice.trainer.backend.Backend;
import dev.lattice.trainer.backend.Tensor;
import dev.lattice.trainer.backend.cpu.CpuBackend;
import dev.lattice.trainer.hf.HfModelDirectory;
import dev.lattice.trainer.io.NamedTensor;
import dev.lattice.trainer.model.GptModel;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code lattice export-hf}: a checkpoint as a HuggingFace model directory (config.json + model.safetensors). */
@Command(name = "export-hf", mixinStandardHelpOptions = true,
        description = "Export a Lattice checkpoint as a HuggingFace GPT2LMHeadModel / LlamaForCausalLM directory.")
public final class ExportHfCommand {

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR") String checkpoint;
    @Option(names = "--output", required = true, paramLabel = "DIR") String output;

    public static void main(String[] args) {
        int code = execute(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    public static int execute(String[] args, PrintStream out, PrintStream err) {
        ExportHfCommand c = new ExportHfCommand();
        CommandLine cl = new CommandLine(c);
        try {
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            err.println("lattice export-hf: " + e.getMessage());
            return 2;
        }
        if (cl.isUsageHelpRequested()) {
            cl.usage(out);
            return 0;
        }
        try {
            Backend be = new CpuBackend();
            GptModel model = ModelLoader.load(c.checkpoint, be);
            Map<String, NamedTensor> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : model.parameters().entrySet()) {
                tensors.put(e.getKey(), new NamedTensor(e.getKey(), e.getValue().shape(), be.toHost(e.getValue())));
            }
            HfModelDirectory.save(Path.of(c.output), model.config(), tensors);
            out.println("exported " + c.checkpoint + " to " + c.output);
            return 0;
        } catch (IllegalArgumentException | IOException e) {
            err.println("lattice export-hf: " + e.getMessage());
            return e instanceof IOException ? 1 : 2;
        }
    }
}
