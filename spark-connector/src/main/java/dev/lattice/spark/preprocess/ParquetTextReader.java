package dev.lattice.spark.preprocess;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.api.ReadSupport;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.Type;
import org.apache.parquet.schema.Types;

import java.io.IOException;

/**
 * Reads the string columns named by {@code --json-keys} from a Parquet file, one document per row, reading only
 * those columns.
 */
final class ParquetTextReader implements RecordReader {

    private final FileChunk chunk;
    private final String[] keys;
    private final ParquetReader<Group> reader;
    private long row;

    ParquetTextReader(FileChunk chunk, Configuration conf, String[] keys) throws IOException {
        this.chunk = chunk;
        this.keys = keys;
        Path path = new Path(chunk.path());
        MessageType fileSchema;
        try (ParquetFileReader footer = ParquetFileReader.open(HadoopInputFile.fromPath(path, conf))) {
            fileSchema = footer.getFooter().getFileMetaData().getSchema();
        } catch (RuntimeException e) {
            throw new IOException(chunk.path() + ": not a readable Parquet file: " + e.getMessage(), e);
        }
        Types.MessageTypeBuilder projection = Types.buildMessage();
        for (String key : keys) {
            if (!fileSchema.containsField(key)) {
                throw new BadRecordException(chunk.path() + ": no column '" + key + "' (columns: "
                        + fileSchema.getFields().stream().map(Type::getName).toList() + ")");
            }
            Type t = fileSchema.getType(key);
            if (!t.isPrimitive() || t.asPrimitiveType().getPrimitiveTypeName() != PrimitiveType.PrimitiveTypeName.BINARY
                    || (t.getLogicalTypeAnnotation() != null
                    && !(t.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.StringLogicalTypeAnnotation))) {
                throw new BadRecordException(chunk.path() + ": column '" + key + "' is " + t
                        + ", expected a string column");
            }
            projection.addField(t);
        }
        Configuration c = new Configuration(conf);
        c.set(ReadSupport.PARQUET_READ_SCHEMA, projection.named(fileSchema.getName()).toString());
        this.reader = ParquetReader.builder(new GroupReadSupport(), path).withConf(c).build();
    }

    @Override
    public RawRecord next() throws IOException {
        Group g = reader.read();
        if (g == null) {
            return null;
        }
        long r = row++;
        String[] texts = new String[keys.length];
        long bytes = 0;
        for (int k = 0; k < keys.length; k++) {
            if (g.getFieldRepetitionCount(keys[k]) == 0) {
                return RawRecord.bad(chunk.path() + " row " + r + ": column '" + keys[k] + "' is null", 0);
            }
            texts[k] = g.getString(keys[k], 0);
            bytes += texts[k].length();
        }
        return RawRecord.document(texts, chunk.path() + "#" + r, bytes);
    }

    @Override
    public void close() throws IOException {
        reader.close();
    }
}
