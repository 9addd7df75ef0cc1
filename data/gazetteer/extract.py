"""Keep the GeoNames cities500 rows of Chongqing (admin1 33), with their Chinese names."""

import csv
import sys

csv.field_size_limit(10**8)
writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
writer.writerow(["geonameid", "name", "name_zh", "lat", "lon", "feature_code", "admin1"])
with open(sys.argv[1], encoding="utf-8") as fh:
    for row in csv.reader(fh, delimiter="\t"):
        if len(row) < 11 or row[8] != "CN" or row[10] != "33":  # 33 = Chongqing
            continue
        lat, lon = float(row[4]), float(row[5])
        if not (105.2 <= lon <= 110.3 and 28.1 <= lat <= 32.3):
            continue
        zh = [a for a in row[3].split(",") if any("\u4e00" <= c <= "\u9fff" for c in a)]
        writer.writerow([row[0], row[1], "|".join(zh), row[4], row[5], row[7], row[10]])
