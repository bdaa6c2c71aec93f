{#- 4x6 in shipping label, 203 dpi. Jinja: every {{ }} passes through zpl_text (finalize).
    Customer text: text_block(lines, box) in printers/labels.py: one ^FO…^FH^FD field per line
    (no ^FB, where a backslash is special), or a ^GF graphic where the printer's font lacks
    the characters; wrapped and shrunk to fit its box (x, y, width, height in dots). -#}
^XA
^CI28
^PW812
^LL1218
^LH0,0
{% if font %}^CW{{ font.letter }},{{ font.path }}{% endif %}
^FX sender
^FO30,16^A0N,20,20^FDFROM^FS
{{ text_block(sender_lines, x=30, y=40, width=752, height=170, size=22, pitch=24,
              country=label.sender.country) }}
^FO0,212^GB812,3,3^FS
^FX recipient: name, address lines, phone
^FO30,222^A0N,22,22^FDSHIP TO^FS
{{ text_block(recipient.name, x=30, y=248, width=752, height=48, size=42, pitch=46,
              country=recipient.country) }}
{{ text_block(recipient_lines, x=30, y=296, width=752, height=272, size=30, pitch=34,
              country=recipient.country) }}
^FO0,572^GB812,3,3^FS
^FX carrier, service, parcel n of m, weight, order number
{{ text_block(label.carrier, x=30, y=584, width=500, height=46, size=40, pitch=44, fixed=true,
              country=label.sender.country) }}
{{ text_block(label.service, x=30, y=630, width=500, height=38, size=30, pitch=34, fixed=true,
              country=label.sender.country) }}
^FO540,584^FB242,1,0,R,0^A0N,40,40^FD{{ label.parcel_index }} / {{ label.parcel_count }}^FS
^FO540,630^FB242,1,0,R,0^A0N,30,30^FD{{ weight }}^FS
{{ text_block("Order " ~ order_number, x=30, y=668, width=752, height=36, size=28, pitch=32,
              fixed=true) }}
^FO0,706^GB812,3,3^FS
^FX tracking number, Code 128 (automatic subsets)
^FO30,714^A0N,22,22^FDTRACKING^FS
^FO60,742^BY{{ tracking_by }},3.0,140^BCN,140,Y,N,N,A^FD{{ label.tracking_number }}^FS
^FO0,930^GB812,3,3^FS
^FX SSCC, GS1-128: >; subset C, >8 FNC1, AI 00; the lowest barcode
^FO30,940^A0N,22,22^FDSSCC^FS
^FO90,966^BY4,3.0,180^BCN,180,N,N,N,N^FD>;>800{{ label.sscc }}^FS
^FO30,1152^FB752,1,0,C,0^A0N,30,30^FD(00) {{ label.sscc }}^FS
^FO30,1192^A0N,18,18^FH^FDjob {{ job_id }}^FS
^XZ
