{#- SSCC carton/pallet label, 4x6 in at 203 dpi. Every {{ }} passes through zpl_text. -#}
^XA
^CI28
^PW812
^LL1218
^LH0,0
{% if font %}^CW{{ font.letter }},{{ font.path }}{% endif %}
^FX shipper
^FO30,24^A0N,22,22^FDFROM^FS
{% for line in shipper_lines %}
^FO30,{{ 52 + loop.index0 * 28 }}^A{{ cf }}N,26,26^FH^FD{{ line }}^FS
{% endfor %}
^FO0,276^GB812,3,3^FS
^FX contents
{% if label.description %}^FO30,292^A{{ cf }}N,34,34^FH^FD{{ label.description }}^FS{% endif %}
{% if label.item_count %}^FO30,340^A0N,30,30^FD{{ label.item_count }} items^FS{% endif %}
^FO0,390^GB812,3,3^FS
^FX SSCC, GS1-128: >; subset C, >8 FNC1, AI 00
^FO30,410^A0N,30,30^FDSSCC^FS
^FO30,450^FB752,1,0,C,0^A0N,54,54^FD(00) {{ label.sscc }}^FS
^FO90,560^BY4,3.0,320^BCN,320,N,N,N,N^FD>;>800{{ label.sscc }}^FS
^FO30,900^FB752,1,0,C,0^A0N,34,34^FD(00) {{ label.sscc }}^FS
^FO30,1192^A0N,18,18^FH^FDjob {{ job_id }}^FS
^XZ
