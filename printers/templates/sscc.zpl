{#- SSCC carton/pallet label, 4x6 in at 203 dpi. Every {{ }} passes through zpl_text;
    text_block: see shipping_4x6.zpl. -#}
^XA
^CI28
^PW812
^LL1218
^LH0,0
{% if font %}^CW{{ font.letter }},{{ font.path }}{% endif %}
^FX shipper
^FO30,24^A0N,22,22^FDFROM^FS
{{ text_block(shipper_lines, x=30, y=52, width=752, height=222, size=26, pitch=28,
              country=label.shipper.country) }}
^FO0,276^GB812,3,3^FS
^FX contents
{% if label.description %}
{{ text_block(label.description, x=30, y=292, width=752, height=46 if label.item_count else 94,
              size=34, pitch=38, country=label.shipper.country) }}
{% endif %}
{% if label.item_count %}^FO30,340^A0N,30,30^FD{{ label.item_count }} items^FS{% endif %}
^FO0,390^GB812,3,3^FS
^FX SSCC, GS1-128: >; subset C, >8 FNC1, AI 00
^FO30,410^A0N,30,30^FDSSCC^FS
^FO30,450^FB752,1,0,C,0^A0N,54,54^FD(00) {{ label.sscc }}^FS
^FO90,560^BY4,3.0,320^BCN,320,N,N,N,N^FD>;>800{{ label.sscc }}^FS
^FO30,900^FB752,1,0,C,0^A0N,34,34^FD(00) {{ label.sscc }}^FS
^FO30,1192^A0N,18,18^FH^FDjob {{ job_id }}^FS
^XZ
